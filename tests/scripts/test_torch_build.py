"""The PyTorch build set-up installs: CPU without an NVIDIA driver, the CUDA build a driver can run,
a forced choice honoured, and a CPU index that does not answer costing seconds, not minutes."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.scripts.conftest import SCRIPTS, fake_command, load_script

torch_build = load_script("torch_build")
SMI_FAILS = "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9"


def smi_reporting(driver: str) -> str:
    return f'[ "$1" = "--query-gpu=driver_version" ] && echo "{driver}" && exit 0; exit 1'


def run_script(tmp_path: Path, *, smi: str | None = None, index: str, forced: str | None = None):
    """scripts/torch_build.py as set-up runs it, in an interpreter without torch (``-S``: no
    site-packages), with a fake nvidia-smi first on PATH (or none at all)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if smi is not None:
        fake_command(bin_dir, "nvidia-smi", smi)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RNNPANEL_TORCH_CPU_INDEX": index}
    if forced is not None:
        env["RNNPANEL_TORCH"] = forced
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-S", str(SCRIPTS / "torch_build.py")], env=env, capture_output=True,
                          text=True, timeout=60)
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def cpu_index():
    """A local stand-in for PyTorch's CPU index that answers for /torch/."""
    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path.startswith("/whl/cpu/torch/") else 404)
            self.end_headers()
            self.wfile.write(b"<a href='torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl'>torch</a>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    server.shutdown()


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/whl/cpu"   # nothing listens: refused at once


@pytest.fixture
def silent_index():
    """An index that accepts connections and never answers (a firewall that drops, a hung proxy)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/whl/cpu"


def test_no_driver_installs_the_cpu_build_from_pytorchs_cpu_index(tmp_path, cpu_index):
    done, _ = run_script(tmp_path, smi=None, index=cpu_index)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["torch==2.13.0", "--index-url", cpu_index]
    assert "CPU build (no NVIDIA driver found" in done.stderr and "from PyTorch's CPU index" in done.stderr


def test_nvidia_smi_that_cannot_reach_a_driver_counts_as_none(tmp_path, cpu_index):
    done, _ = run_script(tmp_path, smi=SMI_FAILS, index=cpu_index)
    assert done.stdout.split() == ["torch==2.13.0", "--index-url", cpu_index]


@pytest.mark.parametrize("driver, build, requirement", [
    ("580.65.06", "CUDA 13", "torch==2.13.0"),
    ("550.54.15", "CUDA 12", "torch==2.10.0"),
])
def test_a_driver_gets_the_cuda_build_it_runs_from_the_package_index(tmp_path, cpu_index, driver, build,
                                                                      requirement):
    done, _ = run_script(tmp_path, smi=smi_reporting(driver), index=cpu_index)
    assert done.stdout.split() == [requirement]
    assert f"{build} build (NVIDIA driver {driver} runs {build})" in done.stderr


def test_a_driver_too_old_for_cuda_12_gets_the_cpu_build(tmp_path, cpu_index):
    done, _ = run_script(tmp_path, smi=smi_reporting("470.239.06"), index=cpu_index)
    assert done.stdout.split() == ["torch==2.13.0", "--index-url", cpu_index]
    assert "older than 535" in done.stderr


def test_unreachable_cpu_index_falls_back_to_the_package_index_at_once(tmp_path, closed_port):
    done, seconds = run_script(tmp_path, smi=None, index=closed_port)
    assert done.stdout.split() == ["torch==2.13.0"]
    assert "did not answer" in done.stderr and "several GB" in done.stderr
    assert seconds < 10


def test_silent_cpu_index_falls_back_within_the_probe_timeout(tmp_path, silent_index):
    done, seconds = run_script(tmp_path, smi=None, index=silent_index)
    assert done.stdout.split() == ["torch==2.13.0"]
    assert seconds < torch_build.PROBE_TIMEOUT_S + 5


@pytest.mark.parametrize("forced, smi, expected", [
    ("cpu", smi_reporting("580.65.06"), ["torch==2.13.0", "--index-url"]),
    ("cuda", None, ["torch==2.13.0"]),
    ("cuda12", smi_reporting("580.65.06"), ["torch==2.10.0"]),
])
def test_rnnpanel_torch_forces_a_build(tmp_path, cpu_index, forced, smi, expected):
    done, _ = run_script(tmp_path, smi=smi, index=cpu_index, forced=forced)
    assert done.stdout.split()[:len(expected)] == expected
    assert f"RNNPANEL_TORCH={forced}" in done.stderr


def test_an_unknown_forced_build_is_one_line_and_exit_2(tmp_path, cpu_index):
    done, _ = run_script(tmp_path, index=cpu_index, forced="rocm")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "[setup] RNNPANEL_TORCH must be one of auto, cpu, cuda, cuda13, cuda12; got 'rocm'"]


def test_an_installed_torch_is_kept_unless_another_build_is_forced(monkeypatch):
    cpu = torch_build.Build("cpu", "test")
    cuda = torch_build.Build("cuda13", "test")
    assert torch_build.is_build("2.13.0+cpu", cpu) and not torch_build.is_build("2.13.0+cpu", cuda)
    assert torch_build.is_build("2.13.0", cuda) and not torch_build.is_build("2.10.0", cuda)


def test_off_linux_the_package_index_has_no_cuda_build():
    assert torch_build.choose("auto", None, "Darwin").name == "cpu"
    assert torch_build.choose("auto", "580.1", "Linux").name == "cuda13"
