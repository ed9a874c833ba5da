"""Batched extraction of every layer's per-step hidden (and LSTM cell) states and the EP.

One code path for CUDA and CPU:

1. sequences are sorted by length, longest first, and cut into batches of ``batch_size``,
   so a batch is padded only up to its own longest sequence;
2. each recurrent layer runs as its own one-layer ``nn.LSTM``/``nn.GRU``/``nn.RNN`` per
   direction, with the model's weights copied, so the fused kernels (cuDNN on GPU, oneDNN on
   CPU) do the work and every layer's per-step h is returned (a multi-layer module returns
   only the top layer's). Valid steps form a prefix of each padded row, so they never see the
   padding; the backward direction reads each sequence reversed *within its length* and its
   output is put back in time order. Layer ``l + 1`` reads layer ``l``'s output ``[fwd | bwd]``
   (in eval mode there is no dropout between layers);
3. for LSTM, c_t is recovered from the recomputed gates (:mod:`rnnpanel.compute.gates`), on the
   batch's valid steps only, gathered in packed order (time-major, so each step's sequences
   are one contiguous block): no gate arithmetic is spent on padding;
4. the head is applied to the top layer's h_t at every step: the expected prediction EP_t;
5. ``probs`` are the model's own ``final_state`` → ``head`` → softmax applied to the extracted
   top layer (what ``forward`` computes in eval mode), and the model's actual ``forward`` is
   run on one batch to check that it agrees (``ModelError`` otherwise).

Padded batches rather than ``PackedSequence`` for the fused modules: PyTorch's CPU LSTM uses
oneDNN only for padded input; on length-sorted buckets that was about 1.4x faster
single-threaded than the packed kernel, and degraded far less when threads compete for cores.
Sorting keeps padding small. Batches are time-major, as the fused kernels work internally, so
no transposed copies are made around them.

**EP for bidirectional models.** The head is trained on ``[h_fwd_T | h_bwd_1]``. EP_t is
``softmax(head([h_fwd_t | h_bwd_t]))``: the forward half has read tokens ``1..t`` ("had the
sequence ended at t"), but the backward half has read the sequence from its *end* back to
``t``. So EP_t mixes past and future context; it equals the model's prediction at no step in
general (not even the last), and is best read as "the head's view of the whole context around
t". Only for unidirectional models is EP_T the model's prediction.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnpanel.compute import gates
from rnnpanel.compute.batching import (
    Bucket,
    FlatSequences,
    flatten_sequences,
    length_buckets,
    n_buckets,
)
from rnnpanel.compute.device import default_batch_size, resolve_device
from rnnpanel.compute.layers import direction_weights, split_layers
from rnnpanel.compute.precision import ieee_float32
from rnnpanel.errors import ModelError
from rnnpanel.models.classifier import PAD_ID, RecurrentClassifier

logger = logging.getLogger(__name__)

#: Largest tolerated difference between ``probs`` and the head applied to the extracted final state.
PROBABILITY_TOLERANCE = 1e-4

Progress = Callable[[int, int], Any] | Any  # a callback(done, total) or a tqdm-like bar


@dataclass(frozen=True)
class ExtractedStates:
    """All states of ``S`` sequences, flat, in the order the sequences were given.

    States of sequence ``s`` are rows ``offsets[s]:offsets[s + 1]`` of every per-state array,
    in time order. ``layers[l]`` maps ``"h"`` (and ``"c"`` for LSTM) to ``(N, state_size)``
    float32; for bidirectional layers the columns are ``[forward | backward]``.
    """

    offsets: np.ndarray                 # (S + 1,) int64
    token_ids: np.ndarray               # (N,) int32
    layers: list[dict[str, np.ndarray]]
    ep: np.ndarray                      # (N, C) float32, head applied to the top layer's h_t
    probs: np.ndarray                   # (S, C) float32, the model's prediction (final state → head)
    predictions: np.ndarray             # (S,) int64

    @property
    def n_sequences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_states(self) -> int:
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def state_kinds(self) -> tuple[str, ...]:
        return tuple(self.layers[0]) if self.layers else ()


def extract_states(
    model: RecurrentClassifier,
    sequences: Sequence[Sequence[int]],
    *,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: Progress | None = None,
) -> ExtractedStates:
    """Run ``model`` over ``sequences`` and return every layer's per-step states, EP and predictions.

    ``sequences`` are non-empty lists of token ids (1 .. vocab_size - 1), already cut to the
    model's window. ``device`` is ``"auto"``/``None`` (CUDA when available), ``"cpu"`` or
    ``"cuda"``; the model itself is not moved or modified (a float32 copy runs). ``batch_size``
    None = :func:`~rnnpanel.compute.device.default_batch_size` of the device (256 on the CPU,
    up to 4,096 on a large GPU). ``progress`` is a callback ``progress(done_states,
    total_states)`` or a tqdm bar (its total is set if missing and it is advanced by the states
    of each batch).

    See the module docstring for what EP_t means for bidirectional models.
    """
    if not isinstance(model, RecurrentClassifier):
        raise ModelError(
            f"extract_states needs a RecurrentClassifier, got {type(model).__name__}; "
            "wrap your model with the documented adapter"
        )
    target = resolve_device(device)
    if batch_size is None:
        batch_size = default_batch_size(target)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    flat = flatten_sequences(sequences, vocab_size=model.config.vocab_size)
    runner = copy.deepcopy(model).to(device=target, dtype=torch.float32).eval()
    layers = split_layers(runner.rnn, target)
    result = _allocate(flat, model, len(layers))
    report = _progress_reporter(progress, flat.n_states)
    logger.info(
        "extracting %d states of %d sequences on %s (batch size %d)",
        flat.n_states, flat.n_sequences, target, batch_size,
    )
    with torch.inference_mode(), ieee_float32(target):
        done = 0
        last = n_buckets(flat.n_sequences, int(batch_size)) - 1
        for number, bucket in enumerate(length_buckets(flat, int(batch_size))):
            # the shortest (cheapest) batch is also run through the model's own forward as a check
            _extract_bucket(runner, layers, flat, bucket, target, result, check_forward=number == last)
            done += bucket.n_states
            report(done, bucket.n_states)
    probs = result["probs"]
    return ExtractedStates(
        offsets=flat.offsets.copy(),
        token_ids=flat.token_ids.astype(np.int32),
        layers=result["layers"],
        ep=result["ep"],
        probs=probs,
        predictions=probs.argmax(axis=1).astype(np.int64),
    )


def _allocate(flat: FlatSequences, model: RecurrentClassifier, n_layers: int) -> dict[str, Any]:
    n, size, classes = flat.n_states, model.config.state_size, model.config.n_classes
    kinds = ("h", "c") if isinstance(model.rnn, nn.LSTM) else ("h",)
    return {
        "layers": [{k: np.empty((n, size), dtype=np.float32) for k in kinds} for _ in range(n_layers)],
        "ep": np.empty((n, classes), dtype=np.float32),
        "probs": np.empty((flat.n_sequences, classes), dtype=np.float32),
    }


def _extract_bucket(
    runner: RecurrentClassifier,
    layers: list[list[nn.RNNBase]],
    flat: FlatSequences,
    bucket: Bucket,
    device: torch.device,
    result: dict[str, Any],
    *,
    check_forward: bool,
) -> None:
    ids = _to_device(bucket.padded_ids(flat.token_ids, PAD_ID), device)  # (T, B)
    lengths = _to_device(bucket.lengths, device)
    index = _to_device(bucket.index, device)
    host = _HostWriter(device)
    reverse = _reversal_index(lengths, bucket.max_length)
    destinations = (bucket.destinations, bucket.reversed_destinations)
    hidden = runner.config.hidden_size

    x = runner.embedding(ids)  # (T, B, E), time-major and padded: what the fused modules read
    x_packed = _packed(x, index)  # the same inputs, valid steps only: what the gate products read
    # the cell-state recurrence's one host array, the same for every layer and direction: copied once per batch
    previous = gates.previous_rows(bucket.batch_sizes, device) if "c" in result["layers"][0] else None
    for number, directions in enumerate(layers):
        states = result["layers"][number]
        outs = []
        for direction, module in enumerate(directions):
            # the backward module reads each sequence reversed within its length; its packed
            # states are then in reversed time, which ``reversed_destinations`` undoes
            inputs = x if direction == 0 else _reorder(x, reverse)
            inputs_packed = x_packed if direction == 0 else _packed(inputs, index)
            out, _ = module(inputs)
            h = _packed(out, index)
            columns = slice(direction * hidden, (direction + 1) * hidden) if len(directions) == 2 else slice(None)
            host.put(states["h"], (destinations[direction], columns), h)
            if "c" in states:
                w = direction_weights(module)
                c = gates.packed_lstm_cell_states(
                    inputs_packed, h, bucket.batch_sizes, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, previous
                )
                host.put(states["c"], (destinations[direction], columns), c)
            outs.append(out)
        if len(outs) == 1:
            x, x_packed = outs[0], h
        else:  # the next layer reads [fwd | bwd] in time order
            x = torch.cat([outs[0], _reorder(outs[1], reverse)], dim=-1)
            x_packed = _packed(x, index)

    host.put(result["ep"], bucket.destinations, torch.softmax(runner.head(x_packed), dim=-1))
    batch_first = x.transpose(0, 1)
    probs = torch.softmax(runner.head(runner.final_state(batch_first, lengths)), dim=-1)
    if check_forward:
        _check_against_forward(runner, ids.t(), lengths, probs)
    host.put(result["probs"], bucket.sequences, probs)
    host.flush()


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array on ``device``; to CUDA through pinned memory, without waiting for the copy."""
    tensor = torch.from_numpy(array)
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


class _HostWriter:
    """Device-to-host copies of one batch's results into the output arrays.

    On CUDA each result is copied into pinned memory without blocking, so the GPU runs the next
    layer while the copy travels; the stream is waited for once per batch (:meth:`flush`), not
    once per array. On the CPU results are written at once.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.pending: list[tuple[np.ndarray, Any, torch.Tensor]] = []

    def put(self, target: np.ndarray, index: Any, tensor: torch.Tensor) -> None:
        if not self.cuda:
            target[index] = tensor.numpy()
            return
        staged = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)  # from torch's pinned cache
        staged.copy_(tensor, non_blocking=True)
        self.pending.append((target, index, staged))

    def flush(self) -> None:
        if self.pending:
            torch.cuda.current_stream(self.device).synchronize()
        for target, index, staged in self.pending:
            target[index] = staged.numpy()
        self.pending.clear()


def _packed(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The valid steps of a time-major padded ``(T, B, F)`` tensor, in packed order ``(n, F)``."""
    return values.reshape(-1, values.shape[-1]).index_select(0, index)


def _reversal_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``(T, B)`` index that reverses each column within its length and leaves padding in place."""
    t = torch.arange(steps, device=lengths.device)[:, None]
    n = lengths[None, :]
    return torch.where(t < n, n - 1 - t, t)


def _reorder(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.gather(values, 0, index[..., None].expand(-1, -1, values.shape[-1]))


def _check_against_forward(
    runner: RecurrentClassifier, ids: torch.Tensor, lengths: torch.Tensor, probs: torch.Tensor
) -> None:
    """The model's own forward must give the probabilities the extracted final states give."""
    own = torch.softmax(runner(ids, lengths.cpu()), dim=-1)
    gap = float((own - probs).abs().max())
    if gap > PROBABILITY_TOLERANCE:
        raise ModelError(
            f"the extracted states do not reproduce the model's own prediction (max difference {gap:.2e}); "
            "the model's forward must apply its head to the top recurrent layer's final state"
        )


def _progress_reporter(progress: Progress | None, total: int) -> Callable[[int, int], None]:
    """Adapt a tqdm bar or a ``callback(done, total)`` to ``report(done, advanced)``."""
    if progress is None:
        return lambda done, advanced: None
    if hasattr(progress, "update"):
        if getattr(progress, "total", None) is None:
            progress.total = total
            if hasattr(progress, "refresh"):
                progress.refresh()
        return lambda done, advanced: progress.update(advanced)
    if callable(progress):
        return lambda done, advanced: progress(done, total)
    raise TypeError(f"progress must be None, a callable(done, total) or a tqdm bar; got {type(progress).__name__}")
