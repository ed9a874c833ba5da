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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnpanel.errors import BackendUnavailable

log = logging.getLogger(__name__)

GPU_REMEDY = "see gpu/README.md for a CUDA 12 or 13 set-up; `--backend auto` falls back to the CPU"
PROBE_TIMEOUT_S = 180.0
VERDICTS_FILE = "gpu-probe-verdicts.json"

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
    """Clear remembered probe results, in this process and on disk (after installing or fixing a GPU library)."""
    with _probe_lock:
        _probe_results.clear()
        try:
            verdicts_path().unlink()
        except OSError:
            pass


def require_cupy_device() -> Any:
    """CuPy, when it is installed and sees a CUDA device; else :class:`BackendUnavailable` with the reason."""
    from rnnpanel.compute.xp import _cupy, cupy_unavailable_reason

    reason = cupy_unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(f"CuPy cannot use a CUDA device here ({reason}); {GPU_REMEDY}")
    return _cupy()


def import_or_unavailable(module: str, package_hint: str) -> Any:
    """Import ``module`` or raise :class:`BackendUnavailable` naming the package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"{module} is not installed ({exc}); install {package_hint} — {GPU_REMEDY}") from exc
    except Exception as exc:  # a broken build may fail at import with OSError, RuntimeError, ...
        raise BackendUnavailable(
            f"{module} is installed but fails to import ({type(exc).__name__}: {exc}); {GPU_REMEDY}"
        ) from exc


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

    For libraries that end the process on errors instead of raising. The verdict is remembered
    in this process and on disk under the fingerprint of ``module``'s installed build; a failed
    verdict raises :class:`BackendUnavailable` with the child's exit status and last error line.
    """

    def probe() -> None:
        key = module_fingerprint(module)
        if key is None:
            raise BackendUnavailable(f"{module} is not installed; {GPU_REMEDY}")
        cached = _read_verdicts().get(name)
        if cached is not None and cached.get("key") == key:
            log.debug("backend %s: cached probe verdict %s", name, cached.get("reason") or "works")
            if cached.get("reason"):
                raise BackendUnavailable(f"{cached['reason']} (cached verdict; forget_probes() to probe again)")
            return
        reason, lasting = _run_child_probe(module, code, timeout)
        if lasting:  # a slow or unstartable child may be a busy moment, not a property of the build
            _write_verdict(name, {"key": key, "reason": reason})
        if reason is not None:
            raise BackendUnavailable(reason)

    probe_once(name, probe)


def _run_child_probe(module: str, code: str, timeout: float) -> tuple[str | None, bool]:
    """``(None when the child printed the OK line, else a one-line reason; whether that verdict may be cached)``."""
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
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    if proc.returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-proc.returncode).name}"
        except ValueError:
            how = f"was killed by signal {-proc.returncode}"
    else:
        how = f"exited with status {proc.returncode}"
    return f"its probe fit in a separate process {how}: {last}", True


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
