"""Full float32 precision on CUDA while states are extracted.

cuDNN may run float32 RNNs and matrix products on TF32 tensor cores (10-bit mantissa). The
extracted h_t must match the model's own module, and c_t is recomputed from h_t with ordinary
matrix products; both hold to 1e-5 only if neither side rounds to TF32. The previous settings
are restored on exit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def ieee_float32(device: torch.device) -> Iterator[None]:
    """Disable TF32 for cuDNN RNNs and CUDA matmuls inside the block; a no-op on the CPU."""
    if device.type != "cuda":
        yield
        return
    saved: list[tuple[object, str, object]] = []
    for owner, attr, value in _precision_switches():
        try:
            saved.append((owner, attr, getattr(owner, attr)))
            setattr(owner, attr, value)
        except (AttributeError, RuntimeError) as exc:  # an older or newer torch without this switch
            logger.debug("could not set %s.%s: %s", owner, attr, exc)
    try:
        yield
    finally:
        for owner, attr, value in reversed(saved):
            try:
                setattr(owner, attr, value)
            except (AttributeError, RuntimeError) as exc:
                logger.warning("could not restore %s.%s: %s", owner, attr, exc)


def _precision_switches() -> list[tuple[object, str, object]]:
    rnn = getattr(torch.backends.cudnn, "rnn", None)
    matmul = torch.backends.cuda.matmul
    if rnn is not None and hasattr(rnn, "fp32_precision"):
        return [(rnn, "fp32_precision", "ieee"), (matmul, "fp32_precision", "ieee")]
    return [(torch.backends.cudnn, "allow_tf32", False), (matmul, "allow_tf32", False)]
