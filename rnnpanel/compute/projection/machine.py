"""What a benchmark ran on: CPU, cores, GPU, load and library versions (cheap to import)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

VERSIONED_PACKAGES = ("rnnpanel", "numpy", "torch", "scikit-learn", "openTSNE", "umap-learn", "pynndescent",
                      "cupy-cuda12x", "cupy-cuda13x", "cuml-cu12", "cuml-cu13", "tsnecuda")


def library_versions() -> dict[str, str]:
    """Installed versions of the packages that decide projection speed and results."""
    found = {}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_record() -> dict[str, Any]:
    """The header record: CPU, cores, GPU (if any), load at start, platform and library versions."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else _cupy_device_name()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "record": "machine",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": gpu,
        "load_average": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": library_versions(),
    }


def _cupy_device_name() -> str | None:
    """The GPU as CuPy sees it: cuML runs where a CPU build of torch sees no device."""
    from rnnpanel.compute.xp import cupy_or_none

    cp = cupy_or_none()
    if cp is None:
        return None
    name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)
