"""The README's tour, command by command as written, on a fresh ``$RNNPANEL_HOME``.

Only the quick-pass flags the README names are added (``--epochs 1`` to train, ``--n 300`` in
extract, ``--n 1000`` in bench, ``--no-demo`` to serve); the corpus cache is shared with the run.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: The README's own quick-pass flags, as (command, what is written → what the test runs).
QUICK = {
    "train": ("--out models/rt-lstm", "--out models/rt-lstm --epochs 1"),
    "extract": ("--n 2000", "--n 300"),
    "bench": ("--n 5000 20000", "--n 1000"),
}

pytestmark = pytest.mark.slow


def tour_commands() -> list[str]:
    """The indented lines of the tour's first block, continuation lines joined, comments removed."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("## A short tour"):].split("\n\n")[1]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.split(" # ")[0].strip() for line in joined.splitlines() if line.strip()]


def test_the_tour_names_its_quick_pass_flags():
    text = README.read_text(encoding="utf-8")
    for flag in ("--epochs 1", "--n 300", "--n 1000", "rnnpanel serve --no-demo"):
        assert f"`{flag}`" in text
    commands = tour_commands()
    assert commands[0] == "source .venv/bin/activate" and commands[-1] == "rnnpanel serve"
    assert any(c.startswith("rnnpanel bench projection --model models/rt-lstm") for c in commands)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_tour_runs_in_order_on_a_fresh_home(shared_home, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "data").symlink_to(Path(shared_home) / "data", target_is_directory=True)
    (Path(shared_home) / "data").mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)   # what `source .venv/bin/activate` puts first on PATH
    env = {**os.environ, "RNNPANEL_HOME": str(home), "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    timings = {}
    for command in tour_commands():
        if command == "source .venv/bin/activate":
            continue
        words = shlex.split(command)
        if words[:2] == ["rnnpanel", "serve"]:
            port = _free_port()
            timings["serve"] = _serve(words + ["--no-demo", "--no-show", "--port", str(port), "--address", "127.0.0.1"],
                                      port, env, tmp_path)
            continue
        old, new = QUICK.get(words[1], ("", ""))
        if old:
            assert old in command, f"the README's {words[1]} command changed: {command}"
            command = command.replace(old, new)
        started = time.perf_counter()
        done = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        timings[words[1]] = round(time.perf_counter() - started, 1)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert (tmp_path / "models" / "rt-lstm" / "weights.safetensors").is_file()
    assert (tmp_path / "bench.json").is_file() and (tmp_path / "bench.html").is_file()
    assert (tmp_path / "bench.png").stat().st_size > 10_000      # drawn without a browser
    print("tour seconds:", timings)


def _serve(words: list[str], port: int, env: dict, cwd: Path) -> float:
    """Start the tour's server, wait until the app page is served, stop it; returns the seconds to the page."""
    started = time.perf_counter()
    log = (cwd / "serve.log").open("w")
    server = subprocess.Popen(words, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (cwd / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/apps", timeout=60) as response:
                    page = response.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert "bokeh" in page.lower()
        return round(time.perf_counter() - started, 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
