"""The store's entries as one session offers them, damaged ones marked, and what the page says
about an entry it cannot show.

The sidebar lists damaged entries too (marked, not hidden): an entry that silently vanished from
the list, or a page that stayed empty, left the reason in the server's log only. Choosing one,
or opening a page whose first entry is damaged, shows the store's message (which names the
repair command) above the map, and the session shows a good entry instead. Marks found by any
session of the process are shared through :data:`~rnnpanel.app.damaged_entries.DAMAGED`.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import panel as pn
import param

from rnnpanel.app.damaged_entries import DAMAGED, EntryChoice, marked, next_good
from rnnpanel.errors import DamagedEntry
from rnnpanel.store.state_store import repair_command

#: The notice above the map (Bootstrap's "danger" alert colours, without Bootstrap).
NOTICE = ("<div class='rp-damaged' style='background:#f8d7da;color:#58151c;border:1px solid #f1aeb5;"
          "border-radius:4px;padding:8px 12px;margin:4px 10px;font-size:13px;line-height:1.4'>{}</div>")


#: The line under the entry choice.
SUMMARY = ("<span style='color:#a12622;font-size:12px'>⚠ {} in the list, marked: choose one to see why and "
           "how to repair it</span>")


def notice_html(message: str, instead: str | None) -> str:
    """The notice for an entry that cannot be shown: the store's ``message`` (which names the entry;
    escaped, its `command` spans as code) and which entry is shown instead (None: none can be)."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(message))
    rest = (f"Showing <b>{html.escape(instead)}</b> instead." if instead is not None
            else "No other entry of this store can be shown.")
    return NOTICE.format(f"<b>⚠ Cannot show this entry:</b> {text}<br>{rest}")


def _options(choices: list[EntryChoice]) -> dict[str, str]:
    return {c.label: c.key for c in choices}


class EntryList(param.Parameterized):
    """The entries ``choices`` of the store at ``store_root`` as a session offers them; ``listed``
    keeps them as they were listed (what an app built ahead was built for)."""

    options = param.Dict(default={}, doc="Label → key, as the sidebar's entry choice offers them.")
    notice = param.String(default="", doc="HTML: why an entry chosen or opened cannot be shown ('': nothing).")

    def __init__(self, store_root: str | Path, choices: list[EntryChoice], **params) -> None:
        super().__init__(**params)
        self.store_root = Path(store_root)
        self.listed = tuple(choices)
        self._choices = list(choices)
        self.options = _options(self._choices)
        self._pane: pn.pane.HTML | None = None
        self._summary: pn.pane.HTML | None = None

    def refresh(self) -> None:
        """Mark the entries found damaged since (in any session of the process)."""
        choices = marked(self._choices, self.store_root)
        if choices != self._choices:
            self._choices = choices
            self.options = _options(choices)

    def damage_of(self, key: str | None) -> str | None:
        """Why entry ``key`` cannot be shown, or None if it is good as far as anyone knows."""
        self.refresh()
        return next((c.damaged for c in self._choices if c.key == key), None)

    def next_good(self, after: str | None) -> str | None:
        """The first good entry after ``after`` (from the top if None), or None."""
        self.refresh()
        return next_good(self._choices, after)

    def instead_of(self, key: str, shown: str | None) -> str | None:
        """The entry to show instead of ``key``: the one ``shown`` before if it is good, else the
        next good one (None: none is)."""
        if shown is not None and shown != key and self.damage_of(shown) is None:
            return shown
        return self.next_good(key)

    def found(self, error: DamagedEntry) -> None:
        """``error``'s entry was found damaged here: marked for every session of the process."""
        DAMAGED.mark(self.store_root, error.key, str(error))
        self.refresh()

    def label(self, key: str) -> str:
        """The entry's label as listed before any mark."""
        return next((c.label for c in self.listed if c.key == key), key)

    def say(self, message: str, instead: str | None) -> None:
        """Show why an entry cannot be shown (``message``, the store's), and which is shown ``instead``."""
        self.notice = notice_html(message, None if instead is None else self.label(instead))

    def quiet(self) -> None:
        """Nothing to say any more (another entry was chosen)."""
        self.notice = ""

    def no_map_html(self) -> str:
        """What the main area says when no map is shown: an empty store, or one whose every entry is
        damaged (with the repair command); nothing otherwise (a failure's notification said why)."""
        root = html.escape(str(self.store_root))
        if not self.listed:
            return (f"<p>No entries in the store <code>{root}</code>. Run <code>rnnpanel serve</code> (it prepares "
                    "the demo) or <code>rnnpanel extract</code>.</p>")
        if self.next_good(None) is None:
            return (f"<p>No entry of the store <code>{root}</code> can be shown: each is damaged (choose one in the "
                    f"list to see why). Repair them with <code>{html.escape(repair_command(self.store_root))}</code>."
                    "</p>")
        return ""

    def notice_pane(self) -> pn.pane.HTML | None:
        """The notice for the page (made the first time there is one), or None when there is none:
        no model more in a page with nothing to say."""
        if not self.notice:
            return None
        if self._pane is None:
            self._pane = pn.pane.HTML(sizing_mode="stretch_width", name="damaged-entry-notice")
        self._pane.object = self.notice
        return self._pane

    def summary(self) -> pn.pane.HTML:
        """A line under the entry choice saying how many entries are damaged (hidden while none): a
        closed list shows only the chosen entry, not the marks of the others."""
        if self._summary is None:
            self._summary = pn.pane.HTML(sizing_mode="stretch_width", margin=(0, 10))
            self.param.watch(lambda _e: self._summarise(), "options")
            self._summarise()
        return self._summary

    def _summarise(self) -> None:
        n = sum(c.damaged is not None for c in self._choices)
        self._summary.object = SUMMARY.format(f"{n} damaged entr{'y' if n == 1 else 'ies'}") if n else ""
        self._summary.visible = bool(n)
