"""GPU-only tests: each module is marked ``gpu`` and skips, with the reason, where CUDA or CuPy is missing."""

from __future__ import annotations

import pytest
import torch


def cuda_reason() -> str | None:
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        return f"needs a CUDA device; torch {torch.__version__} ({build}) sees none (see gpu/README.md)"
    return None


def cupy_reason() -> str | None:
    reason = cuda_reason()
    if reason:
        return reason
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - import or driver failure: either way no CuPy here
        return f"needs CuPy on the device ({type(exc).__name__}: {exc}); pip install -r gpu/requirements-cuda12.txt"
    return None


requires_cuda = pytest.mark.skipif(cuda_reason() is not None, reason=cuda_reason() or "")
requires_cupy = pytest.mark.skipif(cupy_reason() is not None, reason=cupy_reason() or "")
