"""Choose the torch device for extraction: CUDA when it is there, the CPU otherwise.

The choice is made once, from an explicit name, so that nothing depends on import-time side
effects and a user who asks for CUDA on a machine without it is told so instead of silently
getting the CPU.
"""

from __future__ import annotations

import logging
import math

import torch

from rnnpanel.errors import BackendUnavailable

logger = logging.getLogger(__name__)

DEVICE_NAMES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a usable :class:`torch.device`.

    ``"auto"`` (or ``None``) picks the first CUDA device when PyTorch sees one, else the CPU.
    Asking for CUDA where there is none raises :class:`BackendUnavailable` with the remedy.
    """
    if name is None:
        name = "auto"
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise TypeError(f"device must be a string such as {', '.join(DEVICE_NAMES)}; got {name!r}")
    key = name.strip().lower()
    if key == "auto":
        device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        logger.info("device auto -> %s", device)
        return device
    if key == "cpu":
        return torch.device("cpu")
    if key == "cuda" or key.startswith("cuda:"):
        return _cuda_device(key)
    raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_NAMES)} (or cuda:N)")


def _cuda_device(key: str) -> torch.device:
    try:
        device = torch.device(key)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {key!r}; choose one of {', '.join(DEVICE_NAMES)} (or cuda:N)") from exc
    if torch.version.cuda is None:
        raise BackendUnavailable(
            f"device {key!r} was requested but this PyTorch build ({torch.__version__}) has no CUDA "
            "support; use --device cpu (or auto), or install a CUDA build of torch (see the gpu/ folder)"
        )
    if not torch.cuda.is_available():
        raise BackendUnavailable(
            f"device {key!r} was requested but no CUDA device is visible (check the driver and "
            "CUDA_VISIBLE_DEVICES); use --device cpu (or auto) to run on the CPU"
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise BackendUnavailable(
            f"device {key!r} was requested but only {count} CUDA device(s) are visible; "
            f"use cuda:0 to cuda:{count - 1}, or --device auto"
        )
    return device


CPU_BATCH_SIZE = 256
MAX_CUDA_BATCH_SIZE = 4096


def default_batch_size(device: str | torch.device | None = "auto") -> int:
    """Sequences per extraction batch on ``device``: 256 on the CPU, more on a GPU with more memory.

    256 keeps a CPU's caches warm but leaves a data-centre GPU mostly idle between kernel
    launches, so on CUDA the batch grows with the device's memory: 1,024 per 16 GiB, from 256 up
    to 4,096 (an H100 or H200 gets 4,096; at a window of 256 tokens and 256 hidden units that is
    a few GiB of activations). The memory is counted in units of 16 GiB *rounded to the nearest*
    unit, not truncated: a "16 GB" card reports 14.6 to 15.9 GiB (what the driver reserves, GB
    against GiB) and gets 1,024, not the CPU's 256; a 32 GB card gets 2,048, an 8 GB one 256.
    """
    target = resolve_device(device)
    if target.type != "cuda":
        return CPU_BATCH_SIZE
    index = target.index if target.index is not None else torch.cuda.current_device()
    return batch_size_for_memory(torch.cuda.get_device_properties(index).total_memory)


def batch_size_for_memory(total_bytes: int) -> int:
    """The CUDA batch for ``total_bytes`` of device memory: 1,024 per 16 GiB (to the nearest 16), 256 to 4,096."""
    units = math.floor(total_bytes / 2**30 / 16 + 0.5)  # halves round up (round() would round them to even)
    return int(max(CPU_BATCH_SIZE, min(MAX_CUDA_BATCH_SIZE, 1024 * units)))
