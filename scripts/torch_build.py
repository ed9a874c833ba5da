"""Which PyTorch build `scripts/setup.sh` installs, and why: run by the new environment's Python.

PyTorch's wheel on the package index is a CUDA build on Linux (several GB of CUDA libraries), so a
laptop without an NVIDIA driver should take the CPU build from PyTorch's own CPU wheel index, and a
workstation with a driver the CUDA build its driver can run (the pairs gpu/README.md lists). Where
PyTorch's index cannot be reached within a few seconds, the package index is used at once rather
than after pip's own retries.

Prints the arguments for ``pip install`` on standard output, one per line (nothing when the torch
already installed is the build wanted), and says what it chose and why on standard error.
Standard library only: it runs before anything else is installed.

``RNNPANEL_TORCH`` forces a build: ``cpu``, ``cuda`` (the CUDA build the driver allows, else
CUDA 13), ``cuda13`` or ``cuda12``; ``auto`` (the default) decides from ``nvidia-smi``.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata

#: PyTorch's own index of CPU-only wheels (all platforms, all supported Pythons).
CPU_INDEX = os.environ.get("RNNPANEL_TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")
#: Seconds to wait for the CPU index before falling back to the package index.
PROBE_TIMEOUT_S = 3.0
#: torch release per build: the package index's 2.13.0 is a CUDA 13 build and its newest CUDA 12
#: build is 2.10.0 (gpu/README.md); the CPU build follows the newest.
VERSIONS = {"cpu": os.environ.get("RNNPANEL_TORCH_VERSION", "2.13.0"), "cuda13": "2.13.0", "cuda12": "2.10.0"}
#: The oldest NVIDIA driver each CUDA major runs on (NVIDIA's compatibility table).
MIN_DRIVER = {"cuda13": 580, "cuda12": 535}
CHOICES = ("auto", "cpu", "cuda", "cuda13", "cuda12")


@dataclass(frozen=True)
class Build:
    """A torch build to install: ``cpu``, ``cuda13`` or ``cuda12``, and the reason it was chosen."""

    name: str
    reason: str


def driver_version(which=shutil.which, run=subprocess.run) -> str | None:
    """The NVIDIA driver's version as ``nvidia-smi`` reports it, or None without a working driver."""
    smi = which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                   text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines or not lines[0][:1].isdigit():
        return None
    return lines[0]


def choose(forced: str, driver: str | None, system: str = "Linux") -> Build:
    """The build for ``RNNPANEL_TORCH=forced`` on a machine with this driver (None: no driver)."""
    if forced not in CHOICES:
        raise ValueError(f"RNNPANEL_TORCH must be one of {', '.join(CHOICES)}; got {forced!r}")
    major = int(driver.split(".")[0]) if driver else None
    fitting = next((name for name, least in MIN_DRIVER.items() if major is not None and major >= least), None)
    if forced == "cpu":
        return Build("cpu", "RNNPANEL_TORCH=cpu")
    if forced in MIN_DRIVER:
        return Build(forced, f"RNNPANEL_TORCH={forced}")
    if forced == "cuda":
        return Build(fitting or "cuda13", "RNNPANEL_TORCH=cuda" + (f", driver {driver}" if driver else ""))
    if system != "Linux":
        return Build("cpu", f"{system}: PyTorch's wheels there have no CUDA")
    if driver is None:
        return Build("cpu", "no NVIDIA driver found (nvidia-smi is missing or fails)")
    if fitting is None:
        return Build("cpu", f"NVIDIA driver {driver} is older than {MIN_DRIVER['cuda12']}, the oldest CUDA 12 runs on")
    return Build(fitting, f"NVIDIA driver {driver} runs {fitting.replace('cuda', 'CUDA ')}")


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the index answers within ``timeout`` seconds (pip would retry for a minute or more)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout) as response:
            return response.status < 400
    except (OSError, ValueError, urllib.error.URLError):
        return False


def installed() -> str | None:
    """The torch release already in this environment (``2.13.0+cpu``), or None."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def is_build(version: str, build: Build) -> bool:
    """Whether an installed torch release is the wanted build (CPU builds carry ``+cpu``, or come
    from the package index off Linux)."""
    if build.name == "cpu":
        return version.endswith("+cpu") or platform.system() != "Linux"
    return not version.endswith("+cpu") and version.split("+")[0] == VERSIONS[build.name]


def pip_arguments(build: Build, *, probe=reachable) -> tuple[list[str], str]:
    """``pip install`` arguments for the build, and a line saying where they install from."""
    requirement = f"torch=={VERSIONS[build.name]}"
    if build.name != "cpu" or platform.system() != "Linux":
        return [requirement], "from the package index"
    if probe(CPU_INDEX):
        return [requirement, "--index-url", CPU_INDEX], "from PyTorch's CPU index"
    return [requirement], (f"from the package index: PyTorch's CPU index did not answer within "
                           f"{PROBE_TIMEOUT_S:g} s (where the package index has only the CUDA build, "
                           "that is a download of several GB)")


def main() -> int:
    forced = os.environ.get("RNNPANEL_TORCH", "auto").strip().lower() or "auto"
    try:
        build = choose(forced, driver_version(), platform.system())
    except ValueError as exc:
        print(f"[setup] {exc}", file=sys.stderr)
        return 2
    have = installed()
    label = "CPU" if build.name == "cpu" else build.name.replace("cuda", "CUDA ")
    if have and (forced == "auto" or is_build(have, build)):
        kept = "" if is_build(have, build) else f" (RNNPANEL_TORCH={label.split()[0].lower()} reinstalls)"
        print(f"[setup] torch {have} is installed; keeping it{kept}", file=sys.stderr)
        return 0
    arguments, where = pip_arguments(build)
    print(f"[setup] installing torch {VERSIONS[build.name]}, {label} build ({build.reason}), {where}",
          file=sys.stderr)
    print("\n".join(arguments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
