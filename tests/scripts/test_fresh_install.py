"""The demo's install alone is enough for every command the README shows a user of it: set-up
without ``--test`` in a copy of this checkout, starting from the `.venv` a failed first run on Debian
leaves (Python, no pip), then the tour's figure (``--plot bench.png``, no browser in that
environment) and ``panel serve examples/explore.ipynb`` (drawn in Chromium, driven from outside)."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.notebooks.served import points_drawn
from tests.test_readme_tour import QUICK, tour_commands

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory, shared_home) -> dict:
    """A copy of the checkout (tracked and new files, as a clone would have them) set up by
    `bash scripts/setup.sh`, with PyTorch's CPU index out of reach (as on this machine)."""
    root = tmp_path_factory.mktemp("fresh") / "rnnpanel"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
    home = root / "home"
    (home / "data").parent.mkdir(parents=True)
    (Path(shared_home) / "data").mkdir(parents=True, exist_ok=True)
    (home / "data").symlink_to(Path(shared_home) / "data", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(RNNPANEL_TORCH_CPU_INDEX=f"http://127.0.0.1:{_free_port()}/whl/cpu", RNNPANEL_HOME=str(home),
               PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(REPO))))
    started = time.perf_counter()
    done = subprocess.run(["bash", "scripts/setup.sh"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    env["PATH"] = f"{root / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"   # source .venv/bin/activate
    return {"root": root, "env": env, "out": done.stdout + done.stderr,
            "seconds": time.perf_counter() - started}


def test_setup_mends_the_half_made_venv_and_says_which_torch(installed):
    out = installed["out"]
    assert "[setup] .venv had no pip; installed it" in out
    assert "CPU build (no NVIDIA driver found" in out and "did not answer within" in out
    assert "[setup] ready: rnnpanel 0.1.0 torch 2.13.0" in out and "(CPU)" in out


def test_the_demo_install_has_no_test_tools(installed):
    python = installed["root"] / ".venv" / "bin" / "python"
    for module in ("playwright", "pytest"):
        assert subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode != 0


def test_the_tours_figure_is_made_without_a_browser(installed):
    root, env = installed["root"], installed["env"]
    commands = [c for c in tour_commands() if c.split()[:2] in (["rnnpanel", "train"], ["rnnpanel", "bench"])]
    assert any("--plot bench.png" in c for c in commands)
    for command in commands:
        old, new = QUICK[command.split()[1]]
        done = subprocess.run(shlex.split(command.replace(old, new)), cwd=root, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, command + "\n" + done.stderr[-3000:]
    png = (root / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (root / "bench.html").read_text().count("Bokeh") > 0


@pytest.mark.browser
def test_the_notebook_is_served_by_the_demo_install(installed, tmp_path):
    root, port = installed["root"], _free_port()
    env = {**installed["env"], "EXPLORE_TRAIN": "600", "EXPLORE_SHOW": "60",
           "EXPLORE_WEIGHTS": str(tmp_path / "review_gru.pt")}
    command = f"panel serve examples/explore.ipynb --port {port} --address 127.0.0.1"   # as the README says
    n_points, _ = points_drawn(shlex.split(command) + ["--allow-websocket-origin", f"127.0.0.1:{port}"], port,
                               cwd=root, env=env, log=tmp_path / "serve.log")
    assert n_points > 60
