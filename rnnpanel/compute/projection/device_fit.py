"""How many states a GPU t-SNE fits whole: every state when they fit in the device's memory, a sample above.

On the CPU a t-SNE of millions of states takes too long, so a sample is fitted and the rest placed
(:mod:`.scale`). On a GPU time is not the limit, memory is: cuML and tsnecuda keep the
``N × 3·perplexity`` neighbour graph (int64 indices, float32 distances), the symmetrised affinities
built from it (COO: two int32 and a float32 per entry, up to twice the graph's entries, and the
unsymmetrised copy while they are summed), the input reduced to 50 components and a few arrays of
N positions on the device. :func:`bytes_per_state` counts that; :func:`device_fit_limit` decides,
from N, the states' dimensions and the device's free memory alone (a pure function, tested without
a GPU), whether every state is fitted or how large a sample is.

The count was checked against cuML's own limit comment (about 2 million states on a 16 GB card)
and leaves a share of the memory (:data:`HEADROOM`) to the CUDA context, RMM's pool and the FFT grid.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

#: Share of the device's free memory the fit may count on (the rest: CUDA context, pools, FFT grids).
HEADROOM = 0.7
#: Bytes a fit needs whatever N (context, kernels, the FFT grid).
FIXED_BYTES = 1 << 30
_GRAPH_ENTRY = 8 + 4            # neighbour index (int64) and distance (float32)
_AFFINITY_ENTRY = 4 + 4 + 4     # COO row, column (int32) and value (float32)
_POSITIONS = 2 * 4 * 8          # embedding, gradient, update, gains ... in float32


def bytes_per_state(dims: int, perplexity: float = 30.0) -> int:
    """Device bytes per state of a GPU t-SNE of states with ``dims`` dimensions."""
    k = int(3 * perplexity)
    graph = k * _GRAPH_ENTRY
    affinities = 3 * k * _AFFINITY_ENTRY        # the symmetrised (up to 2k entries) and the directed copy (k)
    inputs = 4 * (int(dims) + min(int(dims), 50))
    return graph + affinities + inputs + _POSITIONS


def largest_device_fit(dims: int, device_bytes: int, perplexity: float = 30.0) -> int:
    """The most states a GPU t-SNE fits whole in ``device_bytes`` of free device memory (0: none)."""
    usable = HEADROOM * int(device_bytes) - FIXED_BYTES
    return max(0, int(usable // bytes_per_state(dims, perplexity)))


def device_fit_limit(n_states: int, dims: int, device_bytes: int, perplexity: float = 30.0) -> int | None:
    """None when all ``n_states`` fit in ``device_bytes`` (fit every state); else the sample to fit
    (the most that fit, at least 2), the rest being placed."""
    largest = largest_device_fit(dims, device_bytes, perplexity)
    if int(n_states) <= largest:
        return None
    return max(2, largest)


def free_device_memory() -> int | None:
    """Free bytes on the current CUDA device (CuPy, else torch), or None without one."""
    try:
        from rnnpanel.compute.xp import _cupy, cupy_unavailable_reason

        if cupy_unavailable_reason() is None:
            return int(_cupy().cuda.runtime.memGetInfo()[0])
    except Exception as exc:  # noqa: BLE001 - no device memory figure: the backend's own limit applies
        log.debug("CuPy cannot say the device's free memory: %s", exc)
    try:
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.mem_get_info()[0])
    except Exception as exc:  # noqa: BLE001
        log.debug("torch cannot say the device's free memory: %s", exc)
    return None
