"""Recover an LSTM layer's per-step cell state from its per-step hidden state.

cuDNN (and PyTorch's CPU kernels) return h_t for every step but c_t only for the last one.
Since h_{t-1} is known for every step, the gate pre-activations for all steps come from two
large matrix products; what remains sequential is the cheap elementwise recurrence
``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t``. Inverting ``h = o ⊙ tanh(c)`` instead would be
ill-conditioned where ``o`` or ``1 - tanh²`` is small, so it is never done.

The work is done on *packed* states (``PackedSequence.data`` order: step by step, and within
a step the sequences still running, longest first), so neither the matrix products nor the
recurrence spend anything on padding, and each step's slice is contiguous.

The one host array the recurrence needs, each packed row's row one step earlier
(:func:`previous_rows`), depends only on the batch's step sizes: extraction builds it once per
batch and hands it to every layer and direction, and on CUDA it travels through pinned memory
without blocking the stream (a pageable copy would wait for all queued work, per layer and
direction).
"""

from __future__ import annotations

import numpy as np
import torch


def packed_lstm_cell_states(
    x: torch.Tensor,
    h: torch.Tensor,
    batch_sizes: list[int],
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None,
    bias_hh: torch.Tensor | None,
    previous: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-step cell states ``(n, H)`` of a one-direction LSTM layer, in packed order.

    ``x`` ``(n, I)`` is the layer's input and ``h`` ``(n, H)`` its output, both packed:
    step ``t`` holds rows ``sum(batch_sizes[:t]) + b`` for ``b < batch_sizes[t]``, and
    ``batch_sizes`` is non-increasing (sequences sorted longest first, as ``PackedSequence``
    requires). The initial states are zero. Weights are PyTorch's ``(4H, ·)`` blocks in gate
    order i, f, g, o; only i, f, g are needed. ``previous`` is :func:`previous_rows` of
    ``batch_sizes`` on ``h``'s device, when the caller already has it (None: built here).
    """
    n, hidden = h.shape
    rows = 3 * hidden  # i, f, g; the output gate is not needed for c
    first = batch_sizes[0]
    pre = torch.addmm(_gate_bias(bias_ih, bias_hh, rows, h), x, weight_ih[:rows].t())
    if n > first:  # step t >= 1 reads h_{t-1}: the row ``batch_sizes[t - 1]`` places earlier
        if previous is None:
            previous = previous_rows(batch_sizes, h.device)
        pre[first:].addmm_(h.index_select(0, previous), weight_hh[:rows].t())
    pre[:, : 2 * hidden].sigmoid_()  # i and f
    write = pre[:, 2 * hidden :]
    write.tanh_().mul_(pre[:, :hidden])  # i ⊙ g, in g's place
    forget = pre[:, hidden : 2 * hidden]
    cell = torch.empty(n, hidden, dtype=h.dtype, device=h.device)
    cell[:first] = write[:first]
    start, before = first, 0
    for size in batch_sizes[1:]:
        end = start + size
        torch.addcmul(write[start:end], forget[start:end], cell[before : before + size], out=cell[start:end])
        before, start = start, end
    return cell


def lstm_cell_states(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None,
    bias_hh: torch.Tensor | None,
) -> torch.Tensor:
    """Per-step cell states ``(B, T, H)`` of a one-direction LSTM layer that read ``x`` forwards.

    ``x`` is the layer's input ``(B, T, I)`` and ``h`` its per-step output ``(B, T, H)``, both
    right-padded; the initial states are zero. Valid steps form a prefix of each row, so what
    stands at padded steps never reaches a valid one (padded steps' c is meaningless).
    """
    batch, steps, hidden = h.shape
    cell = packed_lstm_cell_states(
        x.transpose(0, 1).reshape(steps * batch, -1),
        h.transpose(0, 1).reshape(steps * batch, hidden),
        [batch] * steps,
        weight_ih, weight_hh, bias_ih, bias_hh,
    )
    return cell.view(steps, batch, hidden).transpose(0, 1)


def previous_rows(batch_sizes: list[int], device: torch.device) -> torch.Tensor:
    """For each packed row of steps 1.., the row of the same sequence one step earlier, on ``device``.

    Built on the host (the step sizes are host integers); to CUDA through pinned memory without
    blocking (the copy is ordered on the stream before the kernels that read it; torch's pinned
    allocator keeps the staging buffer until it is done). Build it once per batch.
    """
    sizes = np.asarray(batch_sizes, dtype=np.int64)
    rows = torch.from_numpy(np.arange(sizes[0], sizes.sum(), dtype=np.int64) - np.repeat(sizes[:-1], sizes[1:]))
    if device.type != "cuda":
        return rows
    return rows.pin_memory().to(device, non_blocking=True)


def _gate_bias(
    bias_ih: torch.Tensor | None, bias_hh: torch.Tensor | None, rows: int, like: torch.Tensor
) -> torch.Tensor:
    bias = like.new_zeros(rows)
    if bias_ih is not None:
        bias = bias + bias_ih[:rows]
    if bias_hh is not None:
        bias = bias + bias_hh[:rows]
    return bias
