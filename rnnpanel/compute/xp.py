"""The array namespace: one code path for GPU (CuPy) and CPU (NumPy) arrays.

Math that must run on both devices (step distances, neighbours, quality metrics) asks
:func:`array_namespace` for the module that owns its inputs and calls ``xp.sqrt``,
``xp.argpartition`` and friends on it. Torch tensors are converted without copies: a CPU
tensor becomes a NumPy view, a CUDA tensor a CuPy view through DLPack, so GPU data never
travels through the host. CuPy is optional; nothing here imports it unless a CuPy array or a
CUDA tensor is actually handed in.
"""

from __future__ import annotations

import functools
import importlib
import logging
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _type_module(x: Any) -> str:
    return type(x).__module__ or ""


def is_cupy_array(x: Any) -> bool:
    """True for a CuPy ndarray, decided without importing CuPy."""
    return _type_module(x).startswith("cupy") and hasattr(x, "__cuda_array_interface__")


def is_torch_tensor(x: Any) -> bool:
    """True for a torch.Tensor, decided without importing torch."""
    return _type_module(x).startswith("torch") and hasattr(x, "device") and hasattr(x, "dtype")


def is_gpu_array(x: Any) -> bool:
    """True when ``x`` lives on a CUDA device (a CuPy array or a CUDA tensor)."""
    if is_cupy_array(x):
        return True
    return is_torch_tensor(x) and x.device.type == "cuda"


@functools.lru_cache(maxsize=1)
def _cupy() -> ModuleType:
    return importlib.import_module("cupy")


def cupy_unavailable_reason() -> str | None:
    """None when CuPy is installed *and* sees a CUDA device, else why not.

    This, not ``torch.cuda.is_available()``, is what the GPU array math and cuML need: a
    workstation may run a CPU build of torch next to a working CuPy and cuML.
    """
    try:
        count = _cupy().cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - ImportError, CUDA driver errors: all mean "no GPU namespace here"
        return f"{type(exc).__name__}: {exc}"
    return None if count >= 1 else "CuPy sees no CUDA device"


def cupy_or_none() -> ModuleType | None:
    """CuPy when it is installed *and* sees a CUDA device, else None (the reason is logged once)."""
    reason = cupy_unavailable_reason()
    if reason is not None:
        _log_cupy_absent(reason)
        return None
    return _cupy()


@functools.lru_cache(maxsize=1)
def _log_cupy_absent(reason: str) -> None:
    log.debug("CuPy unavailable, using NumPy: %s", reason)


def array_namespace(*arrays: Any) -> ModuleType:
    """CuPy if any argument is on the GPU, else NumPy.

    Mixing devices is a programming error (it would silently copy through the host), so a
    mixture raises ``ValueError``.
    """
    on_gpu = [is_gpu_array(a) for a in arrays if a is not None]
    if any(on_gpu):
        if not all(on_gpu):
            raise ValueError("arrays live on different devices; move them to one device (all CPU or all CUDA)")
        return _cupy()
    return np


def asarray(x: Any, *, xp: ModuleType | None = None, dtype: Any = None) -> Any:
    """``x`` as an array of namespace ``xp`` (default: the namespace that owns ``x``), without copies where possible.

    Torch tensors are detached and shared: CPU tensors through ``Tensor.numpy()``, CUDA
    tensors through DLPack into CuPy.
    """
    if is_torch_tensor(x):
        x = x.detach()
        if x.device.type == "cuda":
            x = _cupy().from_dlpack(x)
        else:
            x = x.resolve_conj().resolve_neg().numpy()
    if xp is None:
        xp = array_namespace(x)
    if xp is np and is_cupy_array(x):
        x = x.get()
    out = xp.asarray(x)
    if dtype is not None and out.dtype != dtype:
        out = out.astype(dtype)
    return out


def all_finite(x: Any) -> bool:
    """True when every value of ``x`` is finite; a torch tensor is checked by torch, so a CUDA tensor needs no CuPy."""
    if is_torch_tensor(x):
        import torch

        return bool(torch.isfinite(x).all()) if (x.is_floating_point() or x.is_complex()) else True
    arr = asarray(x)
    xp = array_namespace(arr)
    return bool(xp.all(xp.isfinite(arr)))


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array with the values of ``x`` (copies to the host only when ``x`` is on a GPU)."""
    if is_cupy_array(x):
        return x.get()
    if is_torch_tensor(x):
        return x.detach().cpu().resolve_conj().resolve_neg().numpy()
    return np.asarray(x)


def to_torch(x: Any, *, device: Any = None) -> Any:
    """A torch tensor sharing ``x``'s memory where possible (DLPack for CuPy), optionally moved to ``device``."""
    import torch

    if is_torch_tensor(x):
        t = x
    elif is_cupy_array(x):
        t = torch.from_dlpack(x)
    else:
        t = torch.from_numpy(np.ascontiguousarray(x))
    return t if device is None else t.to(device)


def device_name(x: Any) -> str:
    """"cuda" or "cpu", for log messages and records."""
    return "cuda" if is_gpu_array(x) else "cpu"
