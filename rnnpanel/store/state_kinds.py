"""Which states an entry has: the state kinds, the layers, and a direction's half of a state.

An entry keeps each layer's full state (``h``, and ``c`` for an LSTM; both directions side by side
for a bidirectional model); a kind names the full state or one direction's half of it.
"""

from __future__ import annotations

import numpy as np

from rnnpanel.errors import StoreError

STATE_KINDS = ("h", "c", "h_fwd", "h_bwd", "c_fwd", "c_bwd")


def direction_half(full: np.ndarray, kind: str, *, hidden_size: int, bidirectional: bool) -> np.ndarray:
    """The columns of a layer's full state ``(N, D)`` that state ``kind`` names: all of them for
    ``h``/``c``, the forward or backward half for ``*_fwd``/``*_bwd`` (forward is everything for a
    unidirectional model)."""
    direction = kind.partition("_")[2]
    if not direction:
        return full
    if not bidirectional:
        if direction == "fwd":
            return full
        raise StoreError(f"state kind {kind!r} needs a bidirectional model; this one is unidirectional")
    return full[:, :hidden_size] if direction == "fwd" else full[:, hidden_size:]


def layer_index(attrs: dict, layer: int) -> int:
    """``layer`` as a non-negative index (negative counts from the top), checked against an entry's
    attributes."""
    n_layers = int(attrs["layers"])
    if not -n_layers <= int(layer) < n_layers:
        raise StoreError(f"layer {layer} out of range; this model has {n_layers} layer(s) "
                         f"(0..{n_layers - 1}, or -1 for the top)")
    return int(layer) % n_layers


def known_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`STATE_KINDS`; else the :class:`StoreError` naming them."""
    if kind not in STATE_KINDS:
        raise StoreError(f"unknown state kind {kind!r}; choose one of {', '.join(STATE_KINDS)}")
    return kind


def checked_kind(attrs: dict, kind: str) -> str:
    """``kind`` if this entry's model has it; else the :class:`StoreError` naming the ones it has."""
    known_kind(kind)
    base, _, direction = kind.partition("_")
    if base not in attrs["state_kinds"]:
        raise StoreError(f"state kind {kind!r} is not stored for this {attrs['model_config']['cell'].upper()} "
                         f"model; choose one of {', '.join(attrs['state_kinds'])}")
    if direction == "bwd" and not attrs.get("bidirectional"):
        raise StoreError(f"state kind {kind!r} needs a bidirectional model; this one is unidirectional")
    return kind
