"""Shared checks for GPU backends: is there a CUDA device, and does a library actually run on it?

A GPU library can import cleanly and still be unusable (tsnecuda's public wheel is a CUDA 10.2
build that needs MKL and fails when it is used; a cuML built for another CUDA major fails at
its first kernel). So availability means "a tiny fit succeeded", probed once per process per
backend and remembered with its reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from rnnpanel.errors import BackendUnavailable

log = logging.getLogger(__name__)

GPU_REMEDY = "see gpu/README.md for a CUDA 12 or 13 set-up; `--backend auto` falls back to the CPU"

_probe_results: dict[str, str | None] = {}
_probe_lock = threading.Lock()


def probe_once(name: str, probe: Callable[[], None]) -> None:
    """Run ``probe`` the first time ``name`` is checked; raise :class:`BackendUnavailable` now and later if it failed.

    ``probe`` raises whatever the library raises; its message becomes the recorded reason.
    """
    with _probe_lock:
        if name not in _probe_results:
            try:
                probe()
            except BackendUnavailable as exc:
                _probe_results[name] = str(exc)
            except Exception as exc:  # noqa: BLE001 - any failure of the real library call means "does not work here"
                _probe_results[name] = f"{type(exc).__name__}: {exc}"
            else:
                _probe_results[name] = None
            if _probe_results[name] is not None:
                log.info("backend %s is unavailable: %s", name, _probe_results[name])
        reason = _probe_results[name]
    if reason is not None:
        raise BackendUnavailable(f"{name}: {reason}")


def forget_probes() -> None:
    """Clear remembered probe results (after installing a library in a running session, and in tests)."""
    with _probe_lock:
        _probe_results.clear()


def require_cuda_device() -> None:
    """Raise :class:`BackendUnavailable` unless torch sees a CUDA device."""
    import torch

    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise BackendUnavailable(f"no CUDA device is visible (torch {torch.__version__}, {build}); {GPU_REMEDY}")


def import_or_unavailable(module: str, package_hint: str) -> Any:
    """Import ``module`` or raise :class:`BackendUnavailable` naming the package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"{module} is not installed ({exc}); install {package_hint} — {GPU_REMEDY}") from exc
    except Exception as exc:  # a broken build may fail at import with OSError, RuntimeError, ...
        raise BackendUnavailable(f"{module} is installed but fails to import ({type(exc).__name__}: {exc}); {GPU_REMEDY}") from exc


def tiny_input(n: int = 256, d: int = 8, seed: int = 0) -> Any:
    """A small float32 NumPy array with cluster structure for probe fits."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(4, d))
    return (centers[rng.integers(0, 4, n)] + rng.normal(size=(n, d))).astype(np.float32)
