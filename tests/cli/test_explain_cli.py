"""``rnnpanel explain``: the table, the JSON (the library's numbers), bad input as one line and exit 2,
and the README's explain command as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnpanel.cli import main
from rnnpanel.models import load_model
from rnnpanel.pipeline.importance import read_text, smallest_flip, word_importance
from tests.cli.conftest import review_rows

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT = "a warm film, but the plot is dull and the end is bad"


@pytest.fixture(autouse=True, scope="module")
def threads_put_back():
    """``rnnpanel explain`` sets torch's threads for its process (here: pytest's); put them back after."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """A GRU of 8 units trained for a few seconds on short synthetic reviews whose words carry their class."""
    folder = tmp_path_factory.mktemp("explain")
    csv = folder / "reviews.csv"
    pd.DataFrame(review_rows(200)).to_csv(csv, index=False)
    rc = main(["train", "--dataset", str(csv), "--text-column", "text", "--label-column", "label", "--out",
               str(folder / "model"), "--cell", "gru", "--hidden", "8", "--embedding", "8", "--epochs", "15",
               "--no-progress"])
    assert rc == 0
    return folder / "model"


def explain(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["explain", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_json_holds_the_library_numbers(small_model, tmp_path, capsys):
    rc, out, _ = explain(capsys, "--model", str(small_model), TEXT, "--json", str(tmp_path / "x.json"))
    assert rc == 0
    got = json.loads((tmp_path / "x.json").read_text())
    assert {"predicted", "probability", "words", "flip"} <= set(got)
    loaded = load_model(small_model)
    importance = word_importance(loaded, TEXT)
    assert got["predicted"] == importance.predicted_name
    assert got["probability"] == pytest.approx(importance.probability, abs=1e-7)
    assert [w["word"] for w in got["words"]] == read_text(loaded, TEXT).words
    np.testing.assert_allclose([w["removal"] for w in got["words"]], importance.removal, atol=1e-7)
    np.testing.assert_allclose([w["gradient_x_input"] for w in got["words"]], importance.gradient_x_input, atol=1e-7)
    flip = smallest_flip(loaded, TEXT)
    assert flip.flipped, "the small model should flip this text"
    assert got["flip"]["removed"] == flip.removed
    assert got["flip"]["predicted"] == loaded.config.class_names[flip.predicted_after] != got["predicted"]
    again = word_importance(loaded, got["flip"]["text"])
    assert again.predicted_name == got["flip"]["predicted"]
    for i, w in enumerate(got["words"]):   # the table: one row per word, in reading order
        assert re.search(rf"^\s*{i}\s+{re.escape(w['word'])}\s", out, re.M)
    assert "flip: removing" in out


def test_no_flip_within_the_limit_is_null(small_model, tmp_path, capsys):
    loaded = load_model(small_model)
    flips = {t: smallest_flip(loaded, t) for t in ("good fun and great", "bad dull and cold", TEXT)}
    needs = [t for t, f in flips.items() if f.flipped and len(f.removed) >= 2]
    assert needs, "no text needs two removals"
    rc, out, _ = explain(capsys, "--model", str(small_model), "--limit", "1", needs[0], "--json",
                         str(tmp_path / "y.json"))
    assert rc == 0 and "no flip within 1 removed word(s)" in out
    assert json.loads((tmp_path / "y.json").read_text())["flip"] is None


@pytest.mark.parametrize("args,message", [
    (["   "], "the text is empty"),
    (["zzqx", "qqqv"], "knows none of these words"),
    (["--limit", "0", "good"], "positive integer"),
])
def test_bad_input_is_one_line_and_exit_2(small_model, capsys, args, message):
    rc, out, err = explain(capsys, "--model", str(small_model), *args)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err
    assert err.startswith("rnnpanel explain: error: ")


def test_a_missing_model_is_one_line_and_exit_2(tmp_path, capsys):
    rc, _, err = explain(capsys, "--model", str(tmp_path / "nowhere"), "good")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err


def readme_explain() -> str:
    text = README.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("rnnpanel explain ")]
    assert len(lines) == 1, "the README shows one rnnpanel explain command"
    return lines[0].split(" # ")[0].strip()


def test_the_readme_explain_command_runs_as_written(small_model, tmp_path):
    """As written, from a folder whose models/rt-lstm is the small model (the tour runs it on the real
    one: tests/test_readme_tour.py)."""
    command = readme_explain()
    shutil.copytree(small_model, tmp_path / "models" / "rt-lstm")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "--json explain.json" in command
    got = json.loads((tmp_path / "explain.json").read_text())
    assert got["words"] and got["predicted"] in ("neg", "pos")
