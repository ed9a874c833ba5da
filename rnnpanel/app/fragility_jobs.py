"""Fragility computed once per entry and server process, in the background, for every session that asks
(docs/design.md, What if).

:func:`~rnnpanel.pipeline.importance.stored_fragility` computes in a child process (minutes of one
CPU core for tens of thousands of sequences) and keeps the result beside the entry; a worker thread
here waits for it, so no session's event loop does. A second session asking while it runs (another
user, or the same user's page reloaded) joins that computation: it sees the progress so far and
gets the result, and no second child starts. What is stored already is read at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rnnpanel.pipeline.importance import DEFAULT_LIMIT, Fragility, fragility_name, stored_fragility
from rnnpanel.store import StoredEntry
from rnnpanel.store.mapped import has_mapped

log = logging.getLogger(__name__)

#: Followers hear of the progress at most this often: the search of short sequences reports many
#: groups a second, and each report is a document patch for every following session, which delayed a
#: selection by up to a second when they came in a burst (benchmarks/RESULTS.md, "What if").
REPORT_EVERY_S = 0.5

Report = Callable[[float, str], None]
Done = Callable[[Fragility | None, Exception | None], None]


@dataclass
class _Job:
    """One computation under way, and who follows it."""

    progress: tuple[float, str] = (0.0, "Starting…")
    followers: list[tuple[Report, Done]] = field(default_factory=list)


_JOBS: dict[str, _Job] = {}
_LOCK = threading.Lock()


def _job_key(entry: StoredEntry, limit: int) -> str:
    return str(entry.store.derived_path(entry.key, fragility_name(limit)))


def is_stored(entry: StoredEntry, limit: int = DEFAULT_LIMIT) -> bool:
    """Whether ``entry``'s fragility is in the store (then :func:`read` gives it at once)."""
    return has_mapped(entry.store.derived_path(entry.key, fragility_name(limit)))


def read(entry: StoredEntry, limit: int = DEFAULT_LIMIT) -> Fragility | None:
    """``entry``'s stored fragility (memory-mapped), or None when it was never computed."""
    return stored_fragility(entry, limit=limit) if is_stored(entry, limit) else None


def running(entry: StoredEntry, limit: int = DEFAULT_LIMIT) -> bool:
    """Whether this process is computing ``entry``'s fragility now."""
    with _LOCK:
        return _job_key(entry, limit) in _JOBS


def follow(entry: StoredEntry, report: Report, done: Done, *, limit: int = DEFAULT_LIMIT) -> None:
    """Compute ``entry``'s fragility in the background (or join the computation under way):
    ``report(fraction, message)`` is called with the progress so far, then as it goes, and
    ``done(fragility, None)`` or ``done(None, error)`` once, all from a worker thread."""
    key = _job_key(entry, limit)
    with _LOCK:
        job = _JOBS.get(key)
        start = job is None
        if start:
            job = _JOBS[key] = _Job()
        job.followers.append((report, done))
        progress = job.progress
    report(*progress)
    if start:
        threading.Thread(target=_compute, args=(entry, limit, key, job), name="rnnpanel-fragility",
                         daemon=True).start()


def _compute(entry: StoredEntry, limit: int, key: str, job: _Job) -> None:
    told = [-REPORT_EVERY_S]

    def report(fraction: float, message: str = "") -> None:
        with _LOCK:
            job.progress = (fraction, message or job.progress[1])
            followers = list(job.followers)
        now = time.monotonic()
        if now - told[0] < REPORT_EVERY_S:      # kept for a later follower; the next report says it
            return
        told[0] = now
        for follower, _ in followers:
            _tell(follower, *job.progress)

    result, error = None, None
    try:
        result = stored_fragility(entry, limit=limit, report=report)
    except Exception as exc:    # noqa: BLE001 -- every follower is told why (a model gone, a child killed, ...)
        error = exc
    with _LOCK:
        del _JOBS[key]
        followers = list(job.followers)
    for _, done in followers:
        _tell(done, result, error)


def _tell(callback: Callable[..., None], *args: object) -> None:
    """Call one follower; a session closed meanwhile must not stop the others from hearing."""
    try:
        callback(*args)
    except Exception:   # noqa: BLE001 -- logged; the other followers are still told
        log.warning("a follower of a fragility computation failed", exc_info=True)
