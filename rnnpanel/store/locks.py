"""Identical work at once: one process does it, the others wait for it and read its result.

Whoever writes an entry or a map holds an exclusive ``fcntl.flock`` on a lock file beside it
(released by the kernel when the holder dies, even by ``kill -9``). Another process asking for
the same thing waits for the lock, up to a limit, and then finds the result stored: a cache hit.

A holder that finished removes the lock file while it still holds it. A waiter that then gets the
lock on the removed file sees that the path no longer names the file it locked and takes the lock
again on the file there now, so two processes never both believe they hold it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rnnpanel.errors import StoreError

#: How long a second process waits for one doing the same work (seconds; ``--wait`` changes it).
DEFAULT_WAIT = 3600.0
POLL_SECONDS = 0.2


def wait_seconds(wait: float | None) -> float:
    """``wait`` checked (seconds; None: :data:`DEFAULT_WAIT`)."""
    if wait is None:
        return DEFAULT_WAIT
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0 or wait == float("inf"):
        raise StoreError(f"wait (--wait) must be 0 (refuse at once) or a number of seconds, got {wait!r}")
    return float(wait)


def _same_file(handle: IO[Any], path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def acquire(path: Path, *, wait: float, on_wait: Callable[[float], None] | None = None) -> IO[Any] | None:
    """Take the exclusive lock on ``path`` (created if missing), waiting up to ``wait`` seconds
    while another process holds it; ``on_wait(seconds_waited)`` is called every poll meanwhile.

    Returns the open lock file (closing it releases the lock), or None when another process
    still held it after ``wait`` seconds (0: at once).
    """
    started = time.monotonic()
    while True:
        handle = open(path, "a+")  # noqa: SIM115 -- held open for as long as the lock is
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - started
                    if waited >= wait:
                        handle.close()
                        return None
                    if on_wait is not None:
                        on_wait(waited)
                    time.sleep(min(POLL_SECONDS, wait - waited))
        except BaseException:
            handle.close()
            raise
        if _same_file(handle, path):
            return handle
        handle.close()  # its holder finished and removed it: lock the file that is there now


def release(handle: IO[Any] | None, path: Path, *, remove: bool) -> None:
    """Release a lock :func:`acquire` returned; ``remove`` deletes its file first (the work is done)."""
    if handle is None:
        return
    try:
        if remove:
            Path(path).unlink(missing_ok=True)
    finally:
        handle.close()


def publish(handle: IO[Any] | None, **status: Any) -> None:
    """Write the holder's progress into its lock file, for waiters to show (best effort: a full
    disk or anything else going wrong here only leaves waiters without news)."""
    if handle is None:
        return
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), **status}))
        handle.flush()
    except (OSError, ValueError, TypeError):
        pass


def published(path: Path) -> dict[str, Any]:
    """What the lock's holder last wrote with :func:`publish` (empty when nothing readable)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def held(path: Path) -> bool:
    """Whether a process holds the lock file ``path`` now (nothing is created or kept)."""
    try:
        handle = open(path)  # noqa: SIM115 -- closed below, after the probe
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
