"""The GPU install resolves in one command from the public package index, with one CUDA major throughout.

A workstation runs ``pip install -e . -r gpu/requirements-cudaNN.txt`` (or ``pip install -e ".[gpu]"``).
This resolves the same requirements (the project's own dependencies plus the GPU file or extra)
with ``pip install --dry-run --ignore-installed --report`` for a Linux x86-64 CUDA workstation,
against pip's default index only: pip's configuration files and environment (which may add
local wheel folders, other indexes or constraints, and a CPU torch that would hide a clash) are
switched off. Then it reads the resolved wheels' metadata: torch, CuPy and cuML must ask for
CUDA libraries of one major version, the file's own, and so must every resolved CUDA package.

Needs the package index; skipped with the reason when it cannot be reached.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11")
from packaging.markers import Marker  # noqa: E402 - after the importorskip above
from packaging.requirements import Requirement  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "gpu"

# The workstation the pins are for: CPython 3.12 on glibc 2.35 (Ubuntu 22.04 and later), x86-64.
PYTHON = "3.12"
GLIBC_MINOR = 35
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(GLIBC_MINOR, 16, -1)] + ["manylinux2014_x86_64"]
TARGET_ENV = {
    "python_version": PYTHON, "python_full_version": f"{PYTHON}.0", "platform_system": "Linux",
    "sys_platform": "linux", "platform_machine": "x86_64", "os_name": "posix", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "extra": "",
}
# NVML is the driver's management API, versioned by driver branch, not a CUDA library.
NOT_CUDA_LIBRARIES = {"nvidia-ml-py"}
CUDA_VERSIONED = {"cuda-toolkit", "cuda-bindings", "cuda-python", "cuda-runtime"}

NETWORK_ERRORS = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
                  "ConnectTimeout", "Read timed out", "Connection reset", "ProxyError")

TARGETS = {
    "requirements-cuda12": (["-r", str(GPU / "requirements-cuda12.txt")], 12),
    "requirements-cuda13": (["-r", str(GPU / "requirements-cuda13.txt")], 13),
    "extra-gpu": (None, 13),  # the [gpu] extra of pyproject.toml
}


def isolated_env() -> dict[str, str]:
    """This process's environment without pip settings, and no pip configuration file at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--isolated", *args], env=isolated_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def index_reachable() -> None:
    try:
        proc = pip("index", "versions", "cupy-cuda13x", "--timeout", "20", "--retries", "1", timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("the package index did not answer within 2 minutes")
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f"the package index cannot be reached: {tail[0]}")


def project() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def resolve(tmp_path: Path, extra_args: list[str] | None) -> list[dict[str, Any]]:
    """pip's report of what ``pip install <project deps> <target>`` would install on the workstation."""
    meta = project()
    lines = list(meta["dependencies"])
    if extra_args is None:
        lines += meta["optional-dependencies"]["gpu"]
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report.json"
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    proc = pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
               "--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON, *platforms,
               "-r", str(reqs), *(extra_args or []), timeout=1500)
    if proc.returncode != 0 and any(marker in proc.stderr for marker in NETWORK_ERRORS):
        pytest.skip(f"the package index stopped answering: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, f"pip could not resolve the install:\n{proc.stderr[-4000:]}"
    return json.loads(report.read_text(encoding="utf-8"))["install"]


def cuda_major_of_name(name: str) -> int | None:
    """12 for ``nvidia-cublas-cu12``, ``cuml-cu12``, ``cupy-cuda12x``; None when the name carries none."""
    match = re.search(r"-cu(\d+)$", name) or re.fullmatch(r"cupy-cuda(\d+)x", name)
    return int(match.group(1)) if match else None


def cuda_major_of_requirement(req: Requirement) -> int | None:
    """The CUDA major a requirement asks for: from its name, or from the version of a CUDA-versioned package."""
    name = req.name.lower().replace("_", "-")
    if name in NOT_CUDA_LIBRARIES:
        return None
    major = cuda_major_of_name(name)
    if major is not None:
        return major
    if name in CUDA_VERSIONED or name.startswith("nvidia-"):
        lower = [s.version for s in req.specifier if s.operator in ("==", ">=", "~=", "===", ">")]
        if lower:
            return int(lower[0].split(".")[0])
    return None


def requested_majors(item: dict[str, Any]) -> set[int]:
    """CUDA majors a resolved wheel asks for (its own name and its requirements for this platform)."""
    meta = item["metadata"]
    majors = {m for m in [cuda_major_of_name(meta["name"].lower())] if m is not None}
    for text in meta.get("requires_dist") or []:
        req = Requirement(text)
        if req.marker is not None and ("extra" in str(req.marker) or not Marker(str(req.marker)).evaluate(TARGET_ENV)):
            continue
        major = cuda_major_of_requirement(req)
        if major is not None:
            majors.add(major)
    return majors


def resolved_package_major(item: dict[str, Any]) -> int | None:
    meta = item["metadata"]
    name = meta["name"].lower().replace("_", "-")
    major = cuda_major_of_name(name)
    if major is None and name in CUDA_VERSIONED:
        major = int(meta["version"].split(".")[0])
    return major


def test_major_detection():
    assert requested_majors({"metadata": {"name": "torch", "requires_dist": [
        'cuda-bindings<14,>=13.0.3; platform_system == "Linux"', "nvidia-ml-py>=12",
        'nvidia-cudnn-cu12==9.1; platform_system == "Windows"', 'cupy-cuda12x; extra == "cupy"']}}) == {13}
    assert requested_majors({"metadata": {"name": "cuml-cu12", "requires_dist": [
        "cuda-toolkit[cublas]==12.*", "cuda-python<13.0,>=12.9.2"]}}) == {12}
    assert requested_majors({"metadata": {"name": "cupy-cuda13x", "requires_dist": ["numpy>=2"]}}) == {13}


@pytest.mark.parametrize("target", list(TARGETS))
def test_gpu_install_resolves_to_one_cuda_major(target, tmp_path, index_reachable):
    extra_args, expected = TARGETS[target]
    installed = resolve(tmp_path, extra_args)
    by_name = {item["metadata"]["name"].lower(): item for item in installed}
    versions = {name: item["metadata"]["version"] for name, item in by_name.items()}

    key = {"torch": "torch", "cupy": f"cupy-cuda{expected}x", "cuml": f"cuml-cu{expected}"}
    for role, name in key.items():
        assert name in by_name, f"{target}: {role} ({name}) is not in the resolved install: {sorted(by_name)}"
        majors = requested_majors(by_name[name])
        assert majors == {expected}, (
            f"{target}: {name} {versions[name]} asks for CUDA {sorted(majors) or 'nothing (a CPU build)'}, "
            f"expected CUDA {expected} only")
    assert "dask-cuda" in by_name, f"{target}: dask-cuda (LocalCUDACluster for distributed extraction) is missing"

    others = {name: resolved_package_major(item) for name, item in by_name.items()}
    wrong = {f"{name}=={versions[name]}": m for name, m in others.items() if m is not None and m != expected}
    assert not wrong, f"{target}: packages for another CUDA major were resolved: {wrong}"
