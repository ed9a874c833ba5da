"""Shared checks for GPU backends: does a library see a device, and does it actually run there?

A GPU library can import cleanly and still be unusable (tsnecuda's public wheel is a CUDA 10.2
build that needs MKL and fails when it is used; a cuML built for another CUDA major fails at
its first kernel). So availability means "a tiny fit succeeded", probed once per process per
backend and remembered with its reason.

Each backend is gated on what *it* needs, never on torch: cuML on CuPy seeing a device (a
workstation may run a CPU build of torch next to a working cuML), tsnecuda on its own probe.
tsnecuda's C code calls ``exit()`` on CUDA errors and ``assert(0)`` on cuBLAS errors, which
would end the caller's process (the check, the command line, the app server); so its probe runs
in a child process, and the verdict is cached on disk, keyed by the installed build, the
interpreter, the visible devices and the driver, so the cost is paid once per set-up.

Verdicts are remembered only as long as they describe the installation. A library that is
absent (:class:`LibraryAbsent`) or that fails to import or load — a missing shared library, an
undefined symbol, a build without kernels for this GPU, a driver too old (:class:`BrokenInstall`)
— stays so until :func:`forget_probes`; that, and a working build, is all the disk cache keeps. A
failure of the probe *fit* (out of memory while another job holds the GPU, a CUDA error of the
moment, a signal) is a moment, not the build: it is probed again after :data:`RETRY_AFTER_S`.

:func:`use_pooled_rmm` gives RMM (and so CuPy, which cuML's import routes through RMM) a pooled
device resource instead of the default ``cudaMalloc``/``cudaFree`` per array; cuML's backends call
it after importing cuML.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnpanel.errors import BackendUnavailable

log = logging.getLogger(__name__)

GPU_REMEDY = "see gpu/README.md for a CUDA 12 or 13 set-up; `--backend auto` falls back to the CPU"
PROBE_TIMEOUT_S = 180.0
VERDICTS_FILE = "gpu-probe-verdicts.json"
RETRY_AFTER_S = 300.0  # a probe that failed for a reason of the moment runs again after this long

#: Text of failures that are properties of the installation (an import or ABI failure), not of the moment.
LASTING_PATTERNS = (
    "ImportError", "ModuleNotFoundError", "No module named", "cannot open shared object", "undefined symbol",
    "GLIBC", "version `", "no kernel image", "NoKernelImage", "invalid device function", "InvalidDeviceFunction",
    "driver version is insufficient", "InsufficientDriver", "unsupported PTX", "UnsupportedPtxVersion",
    "no CUDA-capable device", "NoDevice", "CuPy sees no CUDA device", "symbol lookup error", "wrong ELF class",
)


class LibraryAbsent(BackendUnavailable):
    """The GPU library is not installed: normal on a CPU machine (``auto`` logs its skip at INFO)."""


class BrokenInstall(BackendUnavailable):
    """The library is installed but cannot import or load here (an ABI mismatch, no kernels for this GPU, no
    device): a property of the installation, remembered until :func:`forget_probes` (``auto`` warns)."""


def is_lasting_failure(text: str) -> bool:
    """True when ``text`` (an error message, a child's output) reads as an import or ABI failure."""
    return any(pattern in text for pattern in LASTING_PATTERNS)


@dataclass(frozen=True)
class Verdict:
    """A probe's outcome: ``reason`` None when it works; ``kind`` "works", "absent", "broken" (lasting) or
    "transient" (probed again :data:`RETRY_AFTER_S` after ``at``)."""

    reason: str | None
    kind: str
    at: float

    def stale(self, now: float) -> bool:
        return self.kind == "transient" and now - self.at >= RETRY_AFTER_S


_probe_results: dict[str, Verdict] = {}
_probe_lock = threading.Lock()
_ERRORS: dict[str, type[BackendUnavailable]] = {
    "absent": LibraryAbsent, "broken": BrokenInstall, "transient": BackendUnavailable,
}


def probe_once(name: str, probe: Callable[[], None]) -> None:
    """Run ``probe`` the first time ``name`` is checked; raise :class:`BackendUnavailable` now and later if it failed.

    ``probe`` raises whatever the library raises; its message becomes the recorded reason. An
    absent library (:class:`LibraryAbsent`) or an import or ABI failure (:class:`BrokenInstall`, or
    a message :func:`is_lasting_failure` recognises) is remembered for the process's life; any
    other failure (out of memory, a CUDA error of the moment) only for :data:`RETRY_AFTER_S`.
    """
    with _probe_lock:
        verdict = _probe_results.get(name)
        if verdict is None or verdict.stale(time.monotonic()):
            verdict = _run_probe(probe)
            _probe_results[name] = verdict
            if verdict.reason is not None:
                log.info("backend %s is unavailable (%s): %s", name, verdict.kind, verdict.reason)
    if verdict.reason is not None:
        raise _ERRORS[verdict.kind](f"{name}: {verdict.reason}")


def _run_probe(probe: Callable[[], None]) -> Verdict:
    now = time.monotonic()
    try:
        probe()
    except LibraryAbsent as exc:
        return Verdict(str(exc), "absent", now)
    except BrokenInstall as exc:
        return Verdict(str(exc), "broken", now)
    except BackendUnavailable as exc:
        return Verdict(str(exc), "broken" if is_lasting_failure(str(exc)) else "transient", now)
    except Exception as exc:  # noqa: BLE001 - any failure of the real library call means "does not work here"
        reason = f"{type(exc).__name__}: {exc}"
        lasting = isinstance(exc, ImportError) or is_lasting_failure(reason)
        return Verdict(reason, "broken" if lasting else "transient", now)
    return Verdict(None, "works", now)


def forget_probes() -> None:
    """Clear remembered probe results, in this process and on disk (after installing or fixing a GPU library)."""
    with _probe_lock:
        _probe_results.clear()
        try:
            verdicts_path().unlink()
        except OSError:
            pass


def require_cupy_device() -> Any:
    """CuPy, when it is installed and sees a CUDA device; else :class:`LibraryAbsent` (not installed),
    :class:`BrokenInstall` (an import or driver failure, no device) or :class:`BackendUnavailable` (a
    failure of the moment), with the reason."""
    from rnnpanel.compute.xp import _cupy, cupy_unavailable_reason

    reason = cupy_unavailable_reason()
    if reason is not None:
        message = f"CuPy cannot use a CUDA device here ({reason}); {GPU_REMEDY}"
        if _not_installed("cupy"):
            raise LibraryAbsent(message)
        raise (BrokenInstall if is_lasting_failure(reason) else BackendUnavailable)(message)
    return _cupy()


def _not_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module.split(".")[0]) is None
    except (ImportError, ValueError):
        return True


def import_or_unavailable(module: str, package_hint: str) -> Any:
    """Import ``module``; else :class:`LibraryAbsent` naming the package to install, or :class:`BrokenInstall`
    when it is installed but fails to import (a missing shared library, an ABI mismatch)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if _not_installed(module):
            raise LibraryAbsent(f"{module} is not installed ({exc}); install {package_hint} — {GPU_REMEDY}") from exc
        raise BrokenInstall(
            f"{module} is installed but fails to import ({type(exc).__name__}: {exc}); {GPU_REMEDY}"
        ) from exc
    except Exception as exc:  # a broken build may fail at import with OSError, RuntimeError, ...
        raise BrokenInstall(
            f"{module} is installed but fails to import ({type(exc).__name__}: {exc}); {GPU_REMEDY}"
        ) from exc


# -- device memory ---------------------------------------------------------------------------------
_rmm_lock = threading.Lock()


def use_pooled_rmm() -> str:
    """Give RMM's current device a pooled resource, once; return what was done (for the log and the tests).

    cuML's import routes CuPy's allocations through RMM (``cupy.cuda.set_allocator(rmm_cupy_allocator)``)
    whose default resource is plain ``cudaMalloc``/``cudaFree`` per array: every temporary of the
    t-SNE's input reduction and of the neighbour graph would be a synchronising driver call. This
    sets ``CudaAsyncMemoryResource`` (the driver's stream-ordered pool, no fixed up-front
    reservation; like torch's caching allocator it keeps freed memory for the next allocation, RMM's
    default release threshold), or ``PoolMemoryResource`` over ``cudaMalloc`` where the driver has
    no async allocator. Only the *default* resource is replaced:
    one the user (or ``cuml.accel``) chose is kept, and a second call finds this one and keeps it.
    Without RMM (no cuML) nothing happens.
    """
    with _rmm_lock:
        try:
            mr = importlib.import_module("rmm.mr")
        except Exception as exc:  # noqa: BLE001 - no RMM, or one that fails to load: CuPy keeps its own pool
            return f"no RMM ({type(exc).__name__}: {exc})"
        current = mr.get_current_device_resource()
        if not isinstance(current, mr.CudaMemoryResource):
            return f"kept {type(current).__name__}"
        try:
            resource = mr.CudaAsyncMemoryResource()
        except Exception as exc:  # noqa: BLE001 - a driver or platform without cudaMallocAsync
            log.debug("RMM: no CudaAsyncMemoryResource here (%s); using a pool over cudaMalloc", exc)
            resource = mr.PoolMemoryResource(mr.CudaMemoryResource())
        mr.set_current_device_resource(resource)
        log.info("RMM: %s instead of cudaMalloc/cudaFree per allocation", type(resource).__name__)
        return f"set {type(resource).__name__}"


def free_cupy_pools() -> None:
    """Hand the blocks CuPy's own memory pools keep back to the driver (a no-op when CuPy was never imported).

    Before a GPU library that allocates with ``cudaMalloc`` itself (tsnecuda) runs, memory that CuPy
    computed a PCA in would otherwise stay reserved by CuPy's pool.
    """
    cupy = sys.modules.get("cupy")
    if cupy is None:
        return
    for pool in ("get_default_memory_pool", "get_default_pinned_memory_pool"):
        try:
            getattr(cupy, pool)().free_all_blocks()
        except Exception as exc:  # noqa: BLE001 - freeing is an optimisation; never fail the projection for it
            log.debug("could not free CuPy's %s: %s", pool, exc)


def tiny_input(n: int = 256, d: int = 8, seed: int = 0) -> Any:
    """A small float32 NumPy array with cluster structure for probe fits."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(4, d))
    return (centers[rng.integers(0, 4, n)] + rng.normal(size=(n, d))).astype(np.float32)


# -- probes in a child process, with the verdict cached on disk ----------------------------------
TINY_INPUT_SOURCE = """
import numpy as np
rng = np.random.default_rng(0)
centers = rng.normal(scale=5.0, size=(4, 8))
x = (centers[rng.integers(0, 4, 256)] + rng.normal(size=(256, 8))).astype(np.float32)
"""
PROBE_OK = "rnnpanel-probe-ok"
PROBE_IMPORT_FAILED = "rnnpanel-probe-import-failed"  # a probe prints it when the library does not import


def verdicts_path() -> Path:
    from rnnpanel.paths import home

    return home() / VERDICTS_FILE


def module_fingerprint(module: str) -> str | None:
    """A key for the installed build of ``module`` in this set-up, or None when it is not installed.

    Covers the package's files (names, sizes, modification times), the interpreter, the visible
    devices and the NVIDIA driver version, without importing the module or touching CUDA.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    folder = origin.parent if origin.name == "__init__.py" else origin
    parts = [module, sys.executable, os.environ.get("CUDA_VISIBLE_DEVICES", "<all>"), _driver_version()]
    files = sorted(folder.rglob("*")) if folder.is_dir() else [folder]
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        parts.append(f"{path.relative_to(folder.parent)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _driver_version() -> str:
    try:
        return Path("/proc/driver/nvidia/version").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return "<no driver file>"


def probe_in_subprocess(name: str, module: str, code: str, *, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Run ``code`` (which must print :data:`PROBE_OK` on success) in a child interpreter, once per set-up.

    For libraries that end the process on errors instead of raising. A working build, and an
    import or ABI failure (the child printed :data:`PROBE_IMPORT_FAILED`, or its output reads as one,
    :func:`is_lasting_failure`), are remembered in this process and on disk under the fingerprint of
    ``module``'s installed build; any other failure — out of memory, a CUDA error of the moment, a
    signal, a timeout — is not written to disk and is probed again after :data:`RETRY_AFTER_S`. A
    failed verdict raises :class:`BackendUnavailable` with the child's exit status and last error line.
    """

    def probe() -> None:
        key = module_fingerprint(module)
        if key is None:
            raise LibraryAbsent(f"{module} is not installed; {GPU_REMEDY}")
        cached = _read_verdicts().get(name)
        if cached is not None and cached.get("key") == key and (not cached.get("reason") or cached.get("lasting")):
            log.debug("backend %s: cached probe verdict %s", name, cached.get("reason") or "works")
            if cached.get("reason"):
                raise BrokenInstall(f"{cached['reason']} (cached verdict; forget_probes() to probe again)")
            return
        reason, lasting = _run_child_probe(module, code, timeout)
        if reason is None or lasting:  # an out-of-memory or a busy moment is not a property of the build
            _write_verdict(name, {"key": key, "reason": reason, "lasting": lasting})
        if reason is not None:
            raise (BrokenInstall if lasting else BackendUnavailable)(reason)

    probe_once(name, probe)


def _run_child_probe(module: str, code: str, timeout: float) -> tuple[str | None, bool]:
    """``(None when the child printed the OK line, else a one-line reason; whether it is an import or ABI
    failure, a property of the build that may be cached)``."""
    log.info("probing %s in a separate process (its C code may end the process on CUDA errors)", module)
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return f"its probe fit did not finish within {timeout:.0f} s", False
    except OSError as exc:
        return f"its probe process could not start ({exc})", False
    if proc.returncode == 0 and PROBE_OK in proc.stdout:
        return None, True
    output = proc.stderr + proc.stdout
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = lines[-1].replace(f"{PROBE_IMPORT_FAILED}: ", "") if lines else "no output"
    lasting = PROBE_IMPORT_FAILED in output or is_lasting_failure(output)
    if proc.returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-proc.returncode).name}"
        except ValueError:
            how = f"was killed by signal {-proc.returncode}"
    else:
        how = f"exited with status {proc.returncode}"
    return f"its probe fit in a separate process {how}: {last}", lasting


def _read_verdicts() -> dict[str, Any]:
    try:
        data = json.loads(verdicts_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_verdict(name: str, verdict: dict[str, Any]) -> None:
    """Remember ``verdict`` for ``name`` (temporary file, then rename: a reader never sees half a file)."""
    path = verdicts_path()
    data = _read_verdicts()
    data[name] = verdict
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home only costs a new probe next time
        log.debug("could not cache the probe verdict for %s: %s", name, exc)
        tmp.unlink(missing_ok=True)
