"""GPU-only tests: each module is marked ``gpu``.

It skips, with the reason, where torch's CUDA or CuPy's device is missing.
"""

from __future__ import annotations

import pytest
import torch


def cuda_reason() -> str | None:
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        return f"needs a CUDA device; torch {torch.__version__} ({build}) sees none (see gpu/README.md)"
    return None


def cupy_reason() -> str | None:
    """Why CuPy cannot use a device here (None when it can): what cuML and the array math need, whatever torch sees."""
    from rnnpanel.compute.xp import cupy_unavailable_reason

    reason = cupy_unavailable_reason()
    if reason is not None:
        return f"needs CuPy on a CUDA device ({reason}); pip install -e . -r gpu/requirements-cuda13.txt (or -cuda12)"
    return None


requires_cuda = pytest.mark.skipif(cuda_reason() is not None, reason=cuda_reason() or "")
requires_cupy = pytest.mark.skipif(cupy_reason() is not None, reason=cupy_reason() or "")
