"""``rnnpanel extract`` on a user CSV file: one JSON line, a cache hit the second time, exit 2 on bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rnnpanel.cli import main
from tests.cli.conftest import review_rows, untrained_gru

SUMMARY_KEYS = {"n_sequences", "n_states", "layers", "hidden_size", "state_kinds", "seconds", "cache_hit",
                "entry", "store", "device"}


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    pd.DataFrame(review_rows()).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, csv_file) -> Path:
    return untrained_gru(csv_file, tmp_path_factory.mktemp("models") / "gru", num_layers=2)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RNNPANEL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def extract_args(model_dir, csv_file, *extra: str) -> list[str]:
    return ["extract", "--model", str(model_dir), "--dataset", str(csv_file), "--text-column", "text",
            "--label-column", "label", "--device", "cpu", *extra]


def one_json_line(text: str) -> dict:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def test_prints_summary_then_hits_the_cache(home, model_dir, csv_file, capsys):
    assert main(extract_args(model_dir, csv_file, "--n", "7", "--seed", "2")) == 0
    first = one_json_line(capsys.readouterr().out)
    assert SUMMARY_KEYS <= set(first)
    assert first["cache_hit"] is False and first["n_sequences"] == 7 and first["layers"] == 2
    assert first["hidden_size"] == 5 and first["state_kinds"] == ["h"]
    assert first["store"] == str(home / "store")  # the default store lives under RNNPANEL_HOME
    assert (home / "store" / "entries" / first["entry"]).is_dir()

    assert main(extract_args(model_dir, csv_file, "--n", "7", "--seed", "2")) == 0
    second = one_json_line(capsys.readouterr().out)
    assert second["cache_hit"] is True and second["entry"] == first["entry"]
    assert second["n_states"] == first["n_states"] and second["seconds"] < 1.0


def test_explicit_store_and_split(home, model_dir, csv_file, tmp_path, capsys):
    store = tmp_path / "elsewhere"
    assert main(extract_args(model_dir, csv_file, "--split", "train", "--store", str(store), "--batch-size", "4")) == 0
    summary = one_json_line(capsys.readouterr().out)
    assert summary["store"] == str(store) and (store / "entries" / summary["entry"]).is_dir()
    assert summary["n_sequences"] == 48  # the whole training split (80 % of 60)


def _incomplete_model(model_dir: Path, tmp_path: Path) -> Path:
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "weights.safetensors").unlink()
    return broken


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda m, c, t: extract_args(t / "missing", c), "does not exist"),
        (lambda m, c, t: extract_args(_incomplete_model(m, t), c), "weights.safetensors is missing"),
        (lambda m, c, t: ["extract", "--model", str(m), "--dataset", "imdb_reviews"], "unknown dataset"),
        (lambda m, c, t: extract_args(m, c)[:-4] + ["--label-column", "stars"], "stars"),
        (lambda m, c, t: ["extract", "--model", str(m), "--dataset", str(c)], "text column"),
        (lambda m, c, t: extract_args(m, c, "--n", "0"), "positive number"),
        (lambda m, c, t: extract_args(m, c, "--batch-size", "0"), "batch size"),
        (lambda m, c, t: extract_args(m, c, "--split", "dev"), "unknown split"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(home, model_dir, csv_file, tmp_path, capsys, make_args, message):
    store = tmp_path / "store"
    code = main([*make_args(model_dir, csv_file, tmp_path), "--store", str(store)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnpanel extract: error:") and message in lines[0], lines
    assert not store.exists() or not any(store.rglob("*"))


@pytest.mark.slow
def test_console_command_end_to_end(home, model_dir, csv_file, tmp_path):
    """The real command in a fresh process: progress on stderr, only the summary on stdout."""
    store = tmp_path / "store"
    command = [sys.executable, "-m", "rnnpanel", *extract_args(model_dir, csv_file, "--n", "5", "--store", str(store))]
    env = {**os.environ, "RNNPANEL_HOME": str(home)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    summary = one_json_line(done.stdout)
    assert summary["n_sequences"] == 5 and summary["cache_hit"] is False
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert again.returncode == 0 and one_json_line(again.stdout)["cache_hit"] is True
