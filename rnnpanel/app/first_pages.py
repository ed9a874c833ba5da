"""Which sessions of this server process are still waiting for their first page, so that the
work that follows a first page (the tabs, the sidebar's settings and tools) waits for the others.

A room opening the app at once makes one process build every session's first document, serve
every page's scripts and answer the sessions already up, in the order they arrive: the tabs of
the first sessions were built before the last pages got their scripts (benchmarks/RESULTS.md,
"Many users opening the app at once"). A session's after-first-page work now runs once no other session's first
page is pending, checked every :data:`RETRY_MS`; a page that never loads (a closed tab) holds
nobody back longer than :data:`PATIENCE_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from panel.io.state import set_curdoc

PATIENCE_S = 10.0
RETRY_MS = 100

_pending: dict[int, float] = {}      # id of a session's document → when it was opened
_lock = threading.Lock()


def opened(doc) -> None:
    """A session's document was built and its first page is on its way."""
    with _lock:
        _pending[id(doc)] = time.monotonic()


def others_waiting(doc) -> bool:
    """Whether a session other than ``doc``'s still waits for its first page (forgetting any
    that has waited longer than :data:`PATIENCE_S`)."""
    now = time.monotonic()
    with _lock:
        for key in [k for k, since in _pending.items() if now - since > PATIENCE_S]:
            del _pending[key]
        return any(key != id(doc) for key in _pending)


def after_first_pages(doc, callback: Callable[[], None]) -> None:
    """``doc``'s first page is drawn: run ``callback`` on its event loop once no other session's
    first page is pending, or after :data:`PATIENCE_S` at the latest."""
    with _lock:
        _pending.pop(id(doc), None)
    deadline = time.monotonic() + PATIENCE_S

    def attempt() -> None:
        served = getattr(doc, "session_context", None) is not None     # else nothing runs its timeouts
        if served and others_waiting(doc) and time.monotonic() < deadline:
            doc.add_timeout_callback(attempt, RETRY_MS)
            return
        with set_curdoc(doc):
            callback()

    attempt()
