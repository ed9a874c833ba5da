"""Split a multi-layer ``nn.LSTM``/``nn.GRU``/``nn.RNN`` into one-layer, one-direction modules.

A multi-layer module returns per-step outputs only for its top layer. Running each layer (and
each direction of a bidirectional layer) as its own one-layer module of the same class, with
the weights copied, keeps the fused kernels (cuDNN on GPU, oneDNN on CPU) and yields every
layer's per-step h.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnpanel.errors import ModelError

_SUFFIXES = ("", "_reverse")


@dataclass(frozen=True)
class DirectionWeights:
    """The weights of a one-layer, one-direction module, PyTorch's layout (gates stacked on dim 0)."""

    weight_ih: torch.Tensor
    weight_hh: torch.Tensor
    bias_ih: torch.Tensor | None
    bias_hh: torch.Tensor | None


def split_layers(rnn: nn.RNNBase, device: torch.device | None = None) -> list[list[nn.RNNBase]]:
    """``[layer][direction]``: eval-mode, time-major, one-layer unidirectional copies of ``rnn``.

    Direction 1 (when ``rnn`` is bidirectional) holds the backward weights; it must be fed each
    sequence reversed within its length. The copies share no storage with ``rnn``.
    """
    if not isinstance(rnn, (nn.LSTM, nn.GRU, nn.RNN)):
        raise ModelError(
            f"the recurrent module is a {type(rnn).__name__}; it must be an nn.LSTM, nn.GRU or nn.RNN"
        )
    if getattr(rnn, "proj_size", 0):
        raise ModelError("LSTM layers with proj_size > 0 are not supported; use a model without projections")
    directions = 2 if rnn.bidirectional else 1
    kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if rnn.bias else ())
    layers: list[list[nn.RNNBase]] = []
    for layer in range(rnn.num_layers):
        modules = []
        for suffix in _SUFFIXES[:directions]:
            kwargs = {
                "input_size": rnn.input_size if layer == 0 else rnn.hidden_size * directions,
                "hidden_size": rnn.hidden_size,
                "num_layers": 1,
                "bias": rnn.bias,
                "batch_first": False,  # time-major: no transposes around the fused kernel
            }
            if isinstance(rnn, nn.RNN):
                kwargs["nonlinearity"] = rnn.nonlinearity
            single = type(rnn)(**kwargs)
            single.load_state_dict(
                {f"{k}_l0": getattr(rnn, f"{k}_l{layer}{suffix}").detach().to(torch.float32).clone() for k in kinds}
            )
            modules.append(single.to(device).eval() if device is not None else single.eval())
        layers.append(modules)
    return layers


def direction_weights(module: nn.RNNBase) -> DirectionWeights:
    """The weights of a one-layer, one-direction module made by :func:`split_layers`."""
    return DirectionWeights(
        weight_ih=module.weight_ih_l0,
        weight_hh=module.weight_hh_l0,
        bias_ih=getattr(module, "bias_ih_l0", None),
        bias_hh=getattr(module, "bias_hh_l0", None),
    )
