"""Damaged store entries, as every session of a server process offers them.

An entry can be found damaged long after the store was listed: a chunk of its states fails its
checksum only when it is read, by a session's Units tab, by the child process computing a map,
or by the server warming its caches. Each session would otherwise find it again for itself (a
map started and failed per page), so what one part of the process finds is kept here, once per
process, keyed by the store's root and the entry's key, with the store's message (which names
the repair command). Every session's entry list marks it from then on, and a new session opens
on the next good entry.

A mark is dropped when the entry's metadata changes (a repaired or re-extracted entry is
written anew); marks are per process, so each process of ``--num-procs`` finds the damage once.
Entry folders that cannot be opened at all (``StateStore.unreadable``) need no mark: the store
lists them with their reason each time it is asked.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rnnpanel.pipeline.load import list_entries
from rnnpanel.store import StateStore
from rnnpanel.store.integrity import METADATA_FILE

log = logging.getLogger(__name__)

MARK = "⚠ damaged: "


@dataclass(frozen=True)
class EntryChoice:
    """One entry as the sidebar offers it: its key, its label there, and, for a damaged one, why
    it cannot be shown (None for a good one)."""

    key: str
    label: str
    damaged: str | None = None


def _root(store_root: str | Path) -> str:
    return str(Path(store_root).expanduser().resolve())


def _stamp(store_root: str | Path, key: str) -> int | None:
    """The entry's metadata modification time (None if it has none): a repaired entry's changes."""
    try:
        return StateStore(store_root).entry_path(key).joinpath(METADATA_FILE).stat().st_mtime_ns
    except OSError:
        return None


class DamagedEntries:
    """The entries found damaged in this process, by store root and key, with their message;
    ``watch(callback)`` is told of each new one (held weakly: a closed session is not kept)."""

    def __init__(self) -> None:
        self._marks: dict[tuple[str, str], tuple[str, int | None]] = {}
        self._lock = threading.Lock()
        self._watchers: list[weakref.WeakMethod] = []

    def mark(self, store_root: str | Path, key: str, message: str) -> bool:
        """Record that entry ``key`` of the store at ``store_root`` is damaged (``message`` says how
        and what repairs it); True if it was not known, and then the watchers are told."""
        where = (_root(store_root), key)
        with self._lock:
            known = self._marks.get(where)
            self._marks[where] = (message, _stamp(store_root, key))
            watchers = list(self._watchers)
        if known is not None and known[0] == message:
            return False
        log.warning("marked as damaged: %s", message)
        for ref in watchers:
            callback = ref()
            if callback is not None:
                try:
                    callback()
                except Exception:       # noqa: BLE001 -- one session's failure is not the others'
                    log.exception("a session could not follow a damaged entry")
        return True

    def messages(self, store_root: str | Path) -> dict[str, str]:
        """The damaged entries of the store at ``store_root`` by key, with their messages (marks
        whose entry was written anew since are dropped)."""
        root = _root(store_root)
        with self._lock:
            held = {key: value for (r, key), value in self._marks.items() if r == root}
        found = {}
        for key, (message, stamp) in held.items():
            if _stamp(root, key) != stamp:
                with self._lock:
                    self._marks.pop((root, key), None)
                continue
            found[key] = message
        return found

    def watch(self, callback: Callable[[], None]) -> None:
        """Call the bound method ``callback`` (held weakly) whenever an entry is newly marked."""
        with self._lock:
            self._watchers = [ref for ref in self._watchers if ref() is not None]
            self._watchers.append(weakref.WeakMethod(callback))

    def clear(self) -> None:
        """Forget every mark (tests)."""
        with self._lock:
            self._marks.clear()


#: The process's registry.
DAMAGED = DamagedEntries()


def damaged_label(key: str, label: str | None = None) -> str:
    """How the sidebar names a damaged entry: the mark, the key, and its label when it is known."""
    return f"{MARK}{key}" if label is None else f"{MARK}{key[:8]}… · {label}"


def entry_choices(store: StateStore) -> list[EntryChoice]:
    """Every entry of the store as the sidebar offers it: the readable ones oldest first, those
    found damaged in this process marked where they stand, then the folders that cannot be opened
    (damaged metadata, another format version), marked, with the store's reason."""
    marks = DAMAGED.messages(store.root)
    choices = [EntryChoice(key, label) if key not in marks else EntryChoice(key, damaged_label(key, label), marks[key])
               for key, label in list_entries(store)]
    choices += [EntryChoice(key, damaged_label(key), message) for key, message in store.unreadable().items()]
    return choices


def marked(choices: list[EntryChoice] | tuple[EntryChoice, ...], store_root: str | Path) -> list[EntryChoice]:
    """``choices`` with the entries marked since they were listed marked too (no store read)."""
    marks = DAMAGED.messages(store_root)
    return [EntryChoice(c.key, damaged_label(c.key, c.label), marks[c.key]) if c.damaged is None and c.key in marks
            else c for c in choices]


def next_good(choices: list[EntryChoice], after: str | None) -> str | None:
    """The first good entry listed after ``after`` (wrapping round; from the top when ``after`` is
    not listed), or None when none is good."""
    keys = [c.key for c in choices]
    start = keys.index(after) + 1 if after in keys else 0
    for choice in choices[start:] + choices[:start]:
        if choice.damaged is None and choice.key != after:
            return choice.key
    return None
