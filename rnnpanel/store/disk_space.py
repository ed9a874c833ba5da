"""Room on the store's disk: its free space, what an entry will take, and a full disk said as such.

Writing an entry of millions of states can fill a disk. Two things keep that from ending in a
traceback: a writer compares its estimate with the free space before it writes anything
(:func:`check_room`), and a disk that fills anyway (another program wrote meanwhile, or the
estimate was short) becomes one :class:`DiskFull` line saying what was kept and how to go on
(:func:`telling_full_disk`), instead of ``OSError: [Errno 28] No space left on device``.
"""

from __future__ import annotations

import errno
import math
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rnnpanel.errors import StoreError

#: The errors a full disk (or a used-up quota) raises.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
#: A file takes whole blocks: each chunk file is counted one block larger than its bytes.
BLOCK_BYTES = 4096
#: Metadata documents, the integrity record and other small files of an entry or map.
METADATA_BYTES = 64 << 10


class DiskFull(StoreError):
    """The store's disk cannot hold what is being written. ``free`` is its free space in bytes
    when this was raised; ``needed`` the estimate that did not fit (None: the disk filled while writing)."""

    def __init__(self, message: str, *, free: int, needed: int | None = None) -> None:
        super().__init__(message)
        self.free = free
        self.needed = needed


def free_bytes(path: str | Path) -> int:
    """Bytes this user may still write on the filesystem holding ``path`` (or its nearest existing
    parent, for a store not created yet)."""
    folder = Path(path).expanduser().absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return int(shutil.disk_usage(folder).free)


def describe_bytes(n: int | float) -> str:
    """``12.3 MB``: decimal units, as ``df -H`` shows them."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def rows_bytes(layout: Mapping[str, tuple[tuple[int, ...], str]], rows: int, chunk_files: int) -> int:
    """Uncompressed bytes of ``rows`` rows of every per-state array of ``layout`` (name → (shape,
    dtype)), written as ``chunk_files`` chunk files per array (each counted a block larger)."""
    total = 0
    for shape, dtype in layout.values():
        row = np.dtype(dtype).itemsize * math.prod(int(s) for s in shape[1:])
        total += int(rows) * row + int(chunk_files) * BLOCK_BYTES
    return total


def check_room(path: str | Path, needed: int, *, what: str, remedy: str, where: str | None = None) -> None:
    """Raise :class:`DiskFull` before anything is written when the filesystem holding ``path`` has
    less than ``needed`` bytes free. ``what`` names the thing to be written ("entry 3fa2…"),
    ``remedy`` what the user can do, ``where`` the place for the user ("the store /data/store";
    default: ``path``)."""
    free = free_bytes(path)
    if needed > free:
        raise DiskFull(f"{what} needs about {describe_bytes(needed)} but the disk holding {where or Path(path)} has "
                       f"only {describe_bytes(free)} free; {remedy}", free=free, needed=needed)


def is_out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from, or one of a group's) is a full disk or quota."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in NO_SPACE:
            return True
        pending.extend([current.__cause__, current.__context__, *getattr(current, "exceptions", ())])
    return False


@contextmanager
def telling_full_disk(path: str | Path, message: Callable[[str], str]) -> Iterator[None]:
    """Turn a full disk (ENOSPC, EDQUOT) met inside the block into :class:`DiskFull`.

    ``message(free)`` gets the free space, described (``"1.2 MB"``), and returns the one line for the
    user: what was being written, what is kept, and that the same command goes on once space is freed.
    """
    try:
        yield
    except DiskFull:
        raise
    except Exception as exc:
        if not is_out_of_space(exc):
            raise
        free = free_bytes(path)
        raise DiskFull(message(describe_bytes(free)), free=free) from exc
