"""Apps built ahead of their sessions, so that a room opening the page at once waits less.

A session's first document costs a server process about 0.2 s of CPU here, half of it building the
app's Panel objects and figures; a process builds the sessions of a burst one after another, so
the last of twenty waited for all of them (benchmarks/RESULTS.md, "Many users opening the app at once"). A served
process therefore keeps up to :data:`DEFAULT_SIZE` apps of the default view (the first entry, no
link) ready, built one at a time while the process is otherwise idle (no session opened for
:data:`QUIET_S`, under :data:`BUSY_BELOW` of a core used meanwhile: a burst's documents, its
tables and the selections come first); a session without a link takes one and only makes its
document. ``$RNNPANEL_READY_APPS`` sets how many (0: none).

An app is taken only if the store still lists the entries it was built with (an entry added,
removed or found damaged since is offered by a fresh one), and only an app that shows its map is kept ready (one
that could not load its entry is built in its session, which then gets the notification).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from rnnpanel.errors import RnnpanelError

log = logging.getLogger(__name__)

SIZE_ENV = "RNNPANEL_READY_APPS"
#: A room of about twenty opening the page together; twenty ready apps held 28 MB here.
DEFAULT_SIZE = 20
#: How long after the last session opened the process starts building ahead again, and how often
#: it looks (one app per look: a page waiting for its document waits at most one app's build).
QUIET_S = 0.5
BUSY_BELOW = 0.25
RETRY_S = 0.2
BUILD_GAP_S = 0.005


def configured_size() -> int:
    """``$RNNPANEL_READY_APPS``, else :data:`DEFAULT_SIZE`."""
    value = os.environ.get(SIZE_ENV, "").strip()
    if not value:
        return DEFAULT_SIZE
    if not value.isdigit():
        raise RnnpanelError(f"{SIZE_ENV} must be a whole number of apps (e.g. 20, or 0 for none), got {value!r}")
    return int(value)


class ReadyApps:
    """Apps made by ``build()`` ahead of their sessions; ``fingerprint(app)`` says what an app was
    built for (compared with the present one when it is taken)."""

    def __init__(self, build: Callable[[], Any], fingerprint: Callable[[Any], Hashable], size: int) -> None:
        self._build, self._fingerprint, self.size = build, fingerprint, size
        self._ready: list[Any] = []
        self._lock = threading.Lock()
        self._filling = False
        self._last_taken = 0.0
        self.given = 0                      # apps given to sessions so far
        self._mark = (time.monotonic(), time.process_time(), 0.0)   # when, CPU then, CPU of our builds since

    def __len__(self) -> int:
        return len(self._ready)

    def take(self, present: Hashable) -> Any | None:
        """A ready app built for ``present``, or None (apps built for anything else are dropped);
        building the next ones is scheduled on the running event loop."""
        with self._lock:
            self._last_taken = time.monotonic()
            if self._ready and self._fingerprint(self._ready[0]) != present:
                self._ready.clear()
            app = self._ready.pop() if self._ready else None
            self.given += app is not None
        self.fill_later()
        return app

    def fill_later(self) -> None:
        """Build apps up to :attr:`size` on the running event loop, one at a time, while the process
        is otherwise idle (nothing to do outside an event loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with self._lock:
            if self._filling or len(self._ready) >= self.size:
                return
            self._filling = True
        # a context of its own: not the session's document that happened to schedule it
        loop.call_later(RETRY_S, self._fill_one, loop, context=contextvars.Context())

    def fill_now(self) -> bool:
        """Build one app into the pool at once; False if ``build()`` gave none."""
        app = self._build()
        if app is None:
            return False
        with self._lock:
            if len(self._ready) < self.size:
                self._ready.append(app)
        return True

    def _busy(self) -> float:
        """Cores' worth of CPU this process used since the last look, our own builds left out."""
        then, cpu_then, ours = self._mark
        now, cpu = time.monotonic(), time.process_time()
        self._mark = (now, cpu, 0.0)
        return (cpu - cpu_then - ours) / max(now - then, 1e-3)

    def _fill_one(self, loop: asyncio.AbstractEventLoop) -> None:
        busy = self._busy()
        quiet = time.monotonic() - self._last_taken >= QUIET_S and busy < BUSY_BELOW
        if quiet:
            cpu = time.process_time()
            try:
                built = self.fill_now()
            except Exception:           # noqa: BLE001 -- sessions then build their own apps
                log.exception("could not build an app ahead of its session")
                built = False
            when, cpu_then, ours = self._mark
            self._mark = (when, cpu_then, ours + time.process_time() - cpu)
            if not built:               # tried again after the next session is opened
                with self._lock:
                    self._filling = False
                return
        with self._lock:
            if len(self._ready) >= self.size:
                self._filling = False
                return
        # the next at once when quiet (a request arriving meanwhile is served first), else later
        loop.call_later(BUILD_GAP_S if quiet else RETRY_S, self._fill_one, loop, context=contextvars.Context())


_pools: dict[Hashable, ReadyApps] = {}
_pools_lock = threading.Lock()


def pool_for(key: Hashable, build: Callable[[], Any], fingerprint: Callable[[Any], Hashable]) -> ReadyApps | None:
    """This process's pool of apps for ``key`` (made on first use), or None when
    ``$RNNPANEL_READY_APPS`` is 0."""
    size = configured_size()
    if size == 0:
        return None
    with _pools_lock:
        if key not in _pools:
            _pools[key] = ReadyApps(build, fingerprint, size)
        return _pools[key]
