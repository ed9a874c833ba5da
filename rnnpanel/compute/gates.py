"""Recover an LSTM layer's per-step cell state from its per-step hidden state.

cuDNN (and PyTorch's CPU kernels) return h_t for every step but c_t only for the last one.
Since h_{t-1} is known for every step, the gate pre-activations for all steps come from two
large matrix products; what remains sequential is the cheap elementwise recurrence
``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t``. Inverting ``h = o ⊙ tanh(c)`` instead would be
ill-conditioned where ``o`` or ``1 - tanh²`` is small, so it is never done.
"""

from __future__ import annotations

import torch


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
    stands at padded steps never reaches a valid one (padded steps' c is meaningless). Weights
    are PyTorch's ``(4H, ·)`` blocks in gate order i, f, g, o; only i, f, g are needed.
    """
    batch, steps, hidden = h.shape
    rows = 3 * hidden  # i, f, g; the output gate is not needed for c
    h_prev = torch.cat([h.new_zeros(batch, 1, hidden), h[:, :-1]], dim=1)
    bias = _gate_bias(bias_ih, bias_hh, rows, h)
    pre = torch.addmm(bias, x.reshape(batch * steps, -1), weight_ih[:rows].t())
    pre.addmm_(h_prev.reshape(batch * steps, hidden), weight_hh[:rows].t())
    pre = pre.view(batch, steps, rows).transpose(0, 1)  # time-major: each step's slice is contiguous
    forget = torch.sigmoid(pre[..., hidden : 2 * hidden])
    write = torch.sigmoid(pre[..., :hidden]).mul_(torch.tanh(pre[..., 2 * hidden :]))
    cell = torch.empty_like(write)
    previous = h.new_zeros(batch, hidden)
    for t in range(steps):
        torch.addcmul(write[t], forget[t], previous, out=cell[t])
        previous = cell[t]
    return cell.transpose(0, 1)


def _gate_bias(
    bias_ih: torch.Tensor | None, bias_hh: torch.Tensor | None, rows: int, like: torch.Tensor
) -> torch.Tensor:
    bias = like.new_zeros(rows)
    if bias_ih is not None:
        bias = bias + bias_ih[:rows]
    if bias_hh is not None:
        bias = bias + bias_hh[:rows]
    return bias
