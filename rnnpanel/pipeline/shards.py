"""Extraction cut into shards of state rows: the unit of streaming, resuming and distribution.

Shard ``i`` owns the state rows ``[i * R, (i + 1) * R)`` of the entry (``R`` = the store's chunk
rows), so it writes whole chunks of its own. It extracts every sequence that reaches into those
rows: the sequences lying wholly inside in length-sorted batches, and the (at most two)
sequences crossing its edges each on its own. A sequence crossing an edge is therefore computed
by both neighbouring shards in exactly the same way (a batch of one), so its two halves come
from identical arithmetic whichever process ran each shard. The per-sequence results (the
model's probabilities) of a sequence belong to the shard holding its first state.

:func:`run_shard` is the whole unit of work: one process runs it shard after shard, or Dask
workers run it side by side, and the entry's bytes are the same.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """Rows ``start:stop`` of the entry; sequences ``first:last`` reach into them, ``owned`` start in them."""

    index: int
    start: int
    stop: int
    first: int
    last: int
    owned: tuple[int, int]

    @property
    def n_states(self) -> int:
        return self.stop - self.start


def plan_shards(offsets: np.ndarray, rows_per_shard: int) -> list[Shard]:
    """Cut the rows described by ``offsets`` (``(S + 1,)``, from 0) into shards of ``rows_per_shard``."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n = int(offsets[-1])
    starts = offsets[:-1]
    shards = []
    for index, start in enumerate(range(0, n, int(rows_per_shard))):
        stop = min(start + int(rows_per_shard), n)
        first = int(np.searchsorted(offsets, start, side="right") - 1)
        last = int(np.searchsorted(starts, stop, side="left"))
        owned = (int(np.searchsorted(starts, start, side="left")), last)
        shards.append(Shard(index, start, stop, first, last, owned))
    return shards


@dataclass(frozen=True)
class ShardTask:
    """Everything a process needs to compute and write one shard (small enough to send to a worker)."""

    shard: Shard
    tokens: np.ndarray     # ids of sequences first..last, flat
    offsets: np.ndarray    # their offsets in the entry's rows
    model_dir: str
    weights_sha256: str
    partial_path: str
    device: str
    batch_size: int | None  # None: the device's default


def shard_tasks(shards: list[Shard], token_ids: np.ndarray, offsets: np.ndarray, **common: Any) -> list[ShardTask]:
    """One task per shard, each carrying only its own sequences' token ids."""
    tasks = []
    for shard in shards:
        lo, hi = offsets[shard.first], offsets[shard.last]
        tasks.append(ShardTask(shard=shard, tokens=np.ascontiguousarray(token_ids[lo:hi]),
                               offsets=offsets[shard.first:shard.last + 1].copy(), **common))
    return tasks


def run_shard(task: ShardTask) -> dict[str, Any]:
    """Extract the shard's sequences, write its rows into the partial entry, mark it done.

    Returns ``{"shard", "n_states", "seconds_extract", "seconds_write", "peak_rss_mb"}`` (the
    process's peak so far, so a Dask worker's memory is seen too). The model is loaded once per process.
    """
    import resource

    from rnnpanel.compute.device import resolve_device
    from rnnpanel.store.partial import mark_done, write_rows

    started = time.perf_counter()
    model = _model(task.model_dir, task.weights_sha256)
    rows, probs = extract_shard_rows(model, task, resolve_device(task.device))
    extracted = time.perf_counter()
    write_rows(task.partial_path, task.shard.start, rows)
    mark_done(task.partial_path, task.shard.index, {"probs": probs})
    return {"shard": task.shard.index, "n_states": task.shard.n_states, "seconds_extract": extracted - started,
            "seconds_write": time.perf_counter() - extracted,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def extract_shard_rows(model: Any, task: ShardTask, device: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The shard's rows of every per-state array, and the probabilities of the sequences it owns."""
    from rnnpanel.compute.extraction import extract_states

    shard, offsets = task.shard, task.offsets
    base = int(offsets[0])
    sequences = [task.tokens[offsets[i] - base:offsets[i + 1] - base] for i in range(len(offsets) - 1)]
    inside = [(offsets[i] >= shard.start and offsets[i + 1] <= shard.stop) for i in range(len(sequences))]
    rows: dict[str, np.ndarray] = {}
    probs: dict[int, np.ndarray] = {}

    def put(states: Any, seqs: list[int]) -> None:
        """Copy the rows of ``states`` (sequences ``seqs``, in order) that fall in the shard."""
        lo = int(offsets[seqs[0]])
        src_start, src_stop = max(shard.start, lo) - lo, min(shard.stop, int(offsets[seqs[-1] + 1])) - lo
        dst = max(shard.start, lo) - shard.start
        arrays = {"token_ids": states.token_ids, "ep": states.ep}
        for layer, kinds in enumerate(states.layers):
            arrays.update({f"layer_{layer}/{kind}": values for kind, values in kinds.items()})
        for name, values in arrays.items():
            if name not in rows:
                rows[name] = np.empty((shard.n_states,) + values.shape[1:], dtype=values.dtype)
            rows[name][dst:dst + src_stop - src_start] = values[src_start:src_stop]
        for i, p in zip(seqs, states.probs):
            probs[i] = p

    interior = [i for i, ok in enumerate(inside) if ok]
    if interior:  # consecutive: a shard's interior sequences are one run of rows
        put(extract_states(model, [sequences[i] for i in interior], batch_size=task.batch_size, device=device),
            interior)
    for i in (i for i, ok in enumerate(inside) if not ok):  # edge-crossing: alone, identically everywhere
        put(extract_states(model, [sequences[i]], batch_size=1, device=device), [i])
    first_owned, last_owned = shard.owned
    owned = np.stack([probs[i - shard.first] for i in range(first_owned, last_owned)]) if last_owned > first_owned \
        else np.empty((0, model.config.n_classes), dtype=np.float32)
    return rows, owned.astype(np.float32)


@functools.lru_cache(maxsize=2)
def _model(model_dir: str, weights_sha256: str) -> Any:
    """The model, loaded once per process (each Dask worker loads it on its first shard)."""
    from rnnpanel.errors import ModelError
    from rnnpanel.models import load_model

    loaded = load_model(Path(model_dir), device="cpu")
    if loaded.weights_sha256 != weights_sha256:
        raise ModelError(f"the weights in {model_dir} changed while extracting; run the command again")
    return loaded.model
