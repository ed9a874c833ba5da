"""The fragility of the shown entry in a session: the button that computes it, its progress, and the
Flip words tab (docs/design.md, What if). The sequence table's ``fragile`` column follows
``fragility`` (:mod:`rnnpanel.app.sequence_tabs`).

It is never computed unasked: for 50,000 sequences the search takes minutes of a CPU core, which
a user opening an entry to look at it has not asked for. What is stored already (by any session
or process, or ``rnnpanel`` beforehand) is shown at once, and a computation that another session
of the server started is joined, its progress shown (:mod:`rnnpanel.app.fragility_jobs`).
"""

from __future__ import annotations

import html
from functools import partial

import panel as pn
import param

from rnnpanel.app import fragility_jobs
from rnnpanel.app.widgets import notify, on_session_loop
from rnnpanel.pipeline.importance import DEFAULT_LIMIT, Fragility
from rnnpanel.store import StoredEntry
from rnnpanel.views.fragility import flip_words_html

COMPUTE = "Compute fragility"
#: One line beside the button (a failure in full is in its notification): the tabs stay close under the map.
_LINE = "margin:8px 0;font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis"
LINE = f"<p class='rp-hint' style='{_LINE}'>{{}}</p>"
HINT = "<p class='rp-hint' style='margin:6px 0'>{}</p>"
FAILED = f"<p class='rp-hint' style='{_LINE};color:#a12622'>{{}}</p>"
#: The controls row's height: one line of text beside a 28 px button.
ROW_HEIGHT = 36


def seconds(value: float) -> str:
    """A computation's duration as a user reads it: ``0.4 s``, ``12 s``, ``3 min 16 s``."""
    if value < 10:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(round(value)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


class FragilityPanel(param.Parameterized):
    """``controls`` (above the sequence table) and ``flip_words`` (a tab's content) for one entry at a time."""

    fragility = param.ClassSelector(class_=Fragility, default=None, allow_None=True,
                                    doc="The shown entry's fragility; None until computed.")
    computing = param.Boolean(default=False, doc="Whether the shown entry's fragility is being computed.")

    def __init__(self, limit: int = DEFAULT_LIMIT, **params) -> None:
        super().__init__(**params)
        self.limit = limit
        self._entry: StoredEntry | None = None
        self._class_names: tuple[str, ...] = ()
        self._buttons = [pn.widgets.Button(name=COMPUTE, width=160, height=28, margin=(4, 10))
                         for _ in range(2)]          # one above the table, one in the Flip words tab
        for button in self._buttons:
            button.on_click(lambda _e: self.compute())
        self.progress = pn.indicators.Progress(value=0, max=100, width=180, visible=False, margin=(12, 10))
        self.status = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.controls = pn.Row(self._buttons[0], self.progress, self.status, sizing_mode="stretch_width",
                               height=ROW_HEIGHT)
        self._words = pn.pane.HTML("", sizing_mode="stretch_width")
        self.flip_words = pn.Column(self._buttons[1], self._words, sizing_mode="stretch_width")

    def open(self, entry: StoredEntry, class_names: tuple[str, ...]) -> None:
        """Show ``entry``'s fragility if stored; join its computation if one is under way here;
        else offer the button."""
        self._entry, self._class_names = entry, tuple(class_names)
        self.param.update(fragility=None, computing=False)
        try:
            stored = fragility_jobs.read(entry, self.limit)
        except Exception as exc:    # noqa: BLE001 -- an unreadable result: offered again, and said why
            self._failed(exc)
            return
        if stored is not None:
            self._show(stored)
        elif fragility_jobs.running(entry, self.limit):
            self.compute()
        else:
            self._offer()

    def compute(self) -> None:
        """Compute the shown entry's fragility in the background (or follow the computation under way)."""
        entry = self._entry
        if entry is None or self.computing or self.fragility is not None:
            return
        back = on_session_loop()
        self.computing = True
        for button in self._buttons:
            button.param.update(disabled=True, name="Computing…")
        self.progress.param.update(value=0, visible=True)
        self._words.object = HINT.format("Searching every sequence for the fewest removed words that flip its "
                                         "prediction; the words appear here when it is done.")

        def report(fraction: float, message: str) -> None:
            back(partial(self._report, entry, fraction, message))

        def done(result: Fragility | None, error: Exception | None) -> None:
            back(partial(self._done, entry, result, error))

        fragility_jobs.follow(entry, report, done, limit=self.limit)

    # -- what the session sees ------------------------------------------------------------------
    def _offer(self) -> None:
        n = int(self._entry.attrs.get("n_sequences", 0))
        for button in self._buttons:
            button.param.update(disabled=False, name=COMPUTE, visible=True)
        self.progress.visible = False
        self.status.object = LINE.format(
            f"<b>fragile</b>: removed words that flip each prediction (greedy, at most {self.limit}). "
            f"Not computed yet for these {n:,} sequences: in the background on one core (minutes for tens "
            "of thousands), then kept for every session.")
        self._words.object = HINT.format(
            "The words whose removal most often flips a prediction, per class, once fragility is computed.")

    def _report(self, entry: StoredEntry, fraction: float, message: str) -> None:
        if entry is not self._entry or not self.computing:
            return
        self.progress.value = int(round(100 * max(0.0, min(1.0, fraction))))
        if message:
            self.status.object = LINE.format(html.escape(message))

    def _done(self, entry: StoredEntry, result: Fragility | None, error: Exception | None) -> None:
        if entry is not self._entry:          # another entry is shown meanwhile: it has its own state
            return
        self.computing = False
        if error is not None:
            self._failed(error)
            notify(f"Cannot compute fragility: {error}")
            return
        self._show(result)

    def _show(self, fragility: Fragility) -> None:
        for button in self._buttons:
            button.visible = False
        self.progress.visible = False
        flipped = int(fragility.flipped.sum())
        self.status.object = LINE.format(
            f"<b>fragile</b>: how many removed words flip each prediction (greedy search; "
            f"<b>&gt; {fragility.limit}</b>: no flip within {fragility.limit}). {flipped:,} of "
            f"{len(fragility.removals):,} sequences flip; computed in {seconds(fragility.seconds)}.")
        self._words.object = flip_words_html(fragility, self._class_names)
        self.fragility = fragility

    def _failed(self, error: Exception) -> None:
        self._offer()
        self.status.object = FAILED.format(html.escape(f"Cannot compute fragility: {error}"))
