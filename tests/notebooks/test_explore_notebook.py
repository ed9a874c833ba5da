"""examples/explore.ipynb runs in a real kernel and its app holds the states; served, it draws in Chromium."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.notebooks.served import points_drawn

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "explore.ipynb"
SMALL = {"EXPLORE_TRAIN": "1200", "EXPLORE_SHOW": "120"}


def small(home: Path) -> dict:
    """Small sizes, and the weights kept in the test home (the served notebook loads them instead of training)."""
    return {**SMALL, "EXPLORE_WEIGHTS": str(home / "review_gru.pt")}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def notebook_home(shared_home, tmp_path_factory) -> Path:
    """A home of its own (its store lists only the notebook's entry) sharing the run's corpus cache."""
    home = tmp_path_factory.mktemp("notebook-home")
    shared = Path(shared_home) / "data"
    shared.mkdir(parents=True, exist_ok=True)
    (home / "data").symlink_to(shared, target_is_directory=True)
    return home


@pytest.fixture(scope="module")
def executed(notebook_home) -> dict:
    """Run every cell with nbclient in a python3 kernel, then ask the kernel about the app."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json\n"
        "print(json.dumps({'type': type(app).__name__, 'entry': app.entry, 'n_states': int(app.sample.n_states),\n"
        "                  'xy': list(app.sample.xy.shape), 'n_sequences': int(app.sample.n_sequences),\n"
        "                  'words': [str(w) for w in app.sample.words[:8]]}))"))
    env = {**os.environ, "RNNPANEL_HOME": str(notebook_home), **small(notebook_home)}
    saved = dict(os.environ)
    os.environ.update(env)   # the kernel inherits this process's environment
    try:
        started = time.perf_counter()
        NotebookClient(nb, kernel_name="python3", timeout=600,
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    return {**json.loads(last.strip().splitlines()[-1]), "seconds": time.perf_counter() - started}


def test_the_notebook_runs_and_its_app_holds_the_states(executed, notebook_home):
    from rnnpanel.store import StateStore

    assert executed["type"] == "RnnPanelApp"
    assert 0 < executed["n_sequences"] <= 120 and executed["n_states"] > executed["n_sequences"]
    assert executed["xy"] == [executed["n_states"], 2]
    assert all(w not in ("<pad>", "<unk>") for w in executed["words"])
    entry = StateStore(notebook_home / "store").entry(executed["entry"])
    assert int(entry.attrs["n_states"]) == executed["n_states"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
def test_panel_serve_of_the_notebook_draws_the_app(executed, notebook_home, tmp_path):
    port = _free_port()
    env = {**os.environ, "RNNPANEL_HOME": str(notebook_home), **small(notebook_home)}
    command = [sys.executable, "-m", "panel", "serve", str(NOTEBOOK), "--port", str(port),
               "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    n_points, errors = points_drawn(command, port, cwd=None, env=env, log=tmp_path / "serve.log", timeout_s=180,
                                    shot="explore-notebook-served")
    assert n_points == executed["n_states"]
    assert not errors, errors
