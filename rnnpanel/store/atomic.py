"""Atomic directory writes: build under a temporary name, then rename into place.

A writer killed at any moment leaves only a temporary directory, whose name no reader trusts;
the next writer removes stale ones. ``os.rename`` of a directory is atomic on POSIX filesystems.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"
STALE_SECONDS = 6 * 3600


PARTIAL_PREFIX = ".partial-"  # an entry being streamed (rnnpanel.store.partial): resumable, never stale
LOCK_PREFIX = ".lock-"  # the lock file of work under way beside its result (a map: rnnpanel.store.locks)


def is_temporary(path: Path) -> bool:
    """Whether a folder is unfinished work that readers must not trust (or the lock of such work)."""
    return path.name.startswith((TMP_PREFIX, PARTIAL_PREFIX, LOCK_PREFIX))


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``target``; on success rename it to ``target``.

    If ``target`` already exists when the work is done (another writer won the race with the
    same content key), the new copy is discarded: equal keys mean equal content.
    On any exception the temporary directory is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{TMP_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(folder: Path, older_than: float = STALE_SECONDS) -> int:
    """Delete temporary directories left by killed writers; returns how many were removed."""
    if not folder.is_dir():
        return 0
    now = time.time()
    removed = 0
    for child in folder.iterdir():
        if child.name.startswith(TMP_PREFIX) and now - child.stat().st_mtime > older_than:
            shutil.rmtree(child, ignore_errors=True)
            removed += 1
    return removed
