"""Step distances: how far the hidden state moves with each word, in the original space.

``d_t = ‖h_{t+1} − h_t‖₂`` between consecutive states of one sequence, stored on the state
``t`` it leaves. The last state of each sequence has no successor and gets NaN, so a flat
``(N,)`` array lines up with the flat state arrays of the store. The views show ``d_t`` divided by
the largest distance in the sample (the paper's normalisation), so thresholds mean the same
thing for every model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnpanel.compute.xp import array_namespace, asarray, to_numpy

DEFAULT_CHUNK_ROWS = 1 << 16


def check_offsets(offsets: Any, n_states: int) -> np.ndarray:
    """Validate per-sequence offsets ``(S + 1,)`` against ``n_states`` and return them as int64 NumPy."""
    off = to_numpy(offsets)
    if off.ndim != 1 or off.size < 1:
        raise ValueError(f"offsets must be a 1-D array of S + 1 positions, got shape {off.shape}")
    if not np.issubdtype(off.dtype, np.integer):
        raise ValueError(f"offsets must hold integers, got dtype {off.dtype}")
    off = off.astype(np.int64, copy=False)
    if off[0] != 0 or off[-1] != n_states:
        raise ValueError(
            f"offsets must start at 0 and end at the number of states ({n_states}); got {off[0]}..{off[-1]}"
        )
    if np.any(np.diff(off) < 0):
        raise ValueError("offsets must be non-decreasing (states of sequence s are rows offsets[s]:offsets[s+1])")
    return off


def step_distances(
    states: Any, offsets: Any, *, normalize: bool = True, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Any:
    """Per-state distance to the next state of the same sequence, ``(N,)`` float32, NaN at each sequence end.

    ``states`` is ``(N, D)`` (NumPy, CuPy or torch; the result lives in the same namespace,
    torch tensors giving NumPy or CuPy), ``offsets`` is ``(S + 1,)``. With ``normalize`` the
    distances are divided by their maximum over the sample; an all-zero sample stays zero.
    Differences are formed ``chunk_rows`` rows at a time so that memory stays bounded for a
    million states.
    """
    x = asarray(states)
    xp = array_namespace(x)
    if x.ndim != 2:
        raise ValueError(f"states must be a 2-D array (N, D), got shape {tuple(x.shape)}")
    n = int(x.shape[0])
    off = check_offsets(offsets, n)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows}")

    out = xp.full((n,), xp.nan, dtype=xp.float32)
    for start in range(0, max(n - 1, 0), chunk_rows):
        stop = min(start + chunk_rows, n - 1)
        diff = x[start + 1 : stop + 1].astype(xp.float32) - x[start:stop].astype(xp.float32)
        out[start:stop] = xp.sqrt(xp.sum(diff * diff, axis=1))
    ends = off[1:][np.diff(off) > 0] - 1  # last state of every non-empty sequence
    if ends.size:
        out[xp.asarray(ends)] = xp.nan
    if normalize:
        out = normalize_by_max(out)[0]
    return out


def normalize_by_max(distances: Any) -> tuple[Any, float]:
    """``distances / max(distances)`` ignoring NaN, and the maximum used (0 and NaN are left as they are)."""
    d = asarray(distances)
    xp = array_namespace(d)
    finite = d[~xp.isnan(d)]
    scale = float(finite.max()) if finite.size else 0.0
    if scale > 0:
        d = d / xp.asarray(scale, dtype=d.dtype)
    return d.astype(xp.float32, copy=False), scale
