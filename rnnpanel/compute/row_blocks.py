"""Reading an array of states one block of rows at a time, wherever it lives.

States may be in memory (NumPy, CuPy, torch) or on disk (a ``zarr.Array`` or the store's layer
states, anything with ``shape`` and row slicing). The projection, the placement and the neighbour
index read them through these helpers, so a corpus never has to fit in memory and a block follows
the store's chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from rnnpanel.compute.xp import array_namespace, asarray, is_cupy_array, is_torch_tensor

#: Rows per block unless a caller says otherwise (rounded to whole storage chunks).
DEFAULT_BLOCK_ROWS = 100_000


def block_rows(X: Any, target: int = DEFAULT_BLOCK_ROWS) -> int:
    """Rows per block: ``target`` rounded to whole storage chunks when ``X`` is chunked (zarr)."""
    chunks = getattr(X, "chunks", None)
    step = int(chunks[0]) if isinstance(chunks, tuple) and chunks and isinstance(chunks[0], (int, np.integer)) else 1
    return max(step, (int(target) // step) * step)


def row_blocks(n: int, rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, rows):
        yield start, min(start + rows, n)


def in_memory(X: Any) -> bool:
    """True for arrays already in memory (NumPy, CuPy, torch), False for on-disk ones (zarr) read by blocks."""
    return isinstance(X, np.ndarray) or is_cupy_array(X) or is_torch_tensor(X)


def read_rows(X: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of ``X`` as an in-memory float array (NumPy, or CuPy when ``X`` is CuPy)."""
    block = asarray(X[start:stop])
    xp = array_namespace(block)
    return block if xp.issubdtype(block.dtype, xp.floating) else block.astype(xp.float32)


def gather_rows(X: Any, rows: np.ndarray, *, block: int | None = None) -> Any:
    """``X[rows]`` for sorted ``rows``, reading ``X`` block by block (never all of it at once)."""
    rows = np.asarray(rows)
    step = block_rows(X) if block is None else block
    parts = []
    for start, stop in row_blocks(int(X.shape[0]), step):
        lo, hi = np.searchsorted(rows, [start, stop])
        if hi > lo:
            data = read_rows(X, start, stop)
            parts.append(data[array_namespace(data).asarray(rows[lo:hi] - start)])
    if not parts:
        raise ValueError("no rows to gather")
    return array_namespace(parts[0]).concatenate(parts) if len(parts) > 1 else parts[0]
