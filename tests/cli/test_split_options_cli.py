"""``rnnpanel train`` / ``extract`` on a user file: the split is said, chosen by the user, and keys the entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rnnpanel.cli import main
from rnnpanel.models import load_model
from tests.cli.conftest import review_rows, untrained_gru

DEFAULT_LINE = ("reviews.csv: 80/20 stratified split by label (seed 0): 48 train, 12 test; "
                "use --split-column, --test-fraction or --split-seed to change")


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory) -> Path:
    """60 reviews; every fourth row is marked test in ``fold`` (in mixed spellings)."""
    rows = [{**row, "fold": ["Test", "train", "TRAINING", "train"][i % 4]} for i, row in enumerate(review_rows())]
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, csv_file) -> Path:
    return untrained_gru(csv_file, tmp_path_factory.mktemp("models") / "gru")


def extract(model_dir, csv_file, store, *extra: str) -> list[str]:
    return ["extract", "--model", str(model_dir), "--dataset", str(csv_file), "--text-column", "text",
            "--label-column", "label", "--device", "cpu", "--store", str(store), *extra]


def run_ok(args, capsys) -> tuple[dict, str]:
    assert main(args) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0]), captured.err


def one_error_line(args, capsys, command: str) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rnnpanel {command}: error:"), lines
    return lines[0]


def test_extract_says_how_the_file_was_split(model_dir, csv_file, tmp_path, capsys):
    summary, err = run_ok(extract(model_dir, csv_file, tmp_path / "store"), capsys)
    assert summary["n_sequences"] == 12
    assert err.count(DEFAULT_LINE) == 1


def test_each_split_has_its_own_entry(model_dir, csv_file, tmp_path, capsys):
    store = tmp_path / "store"
    default, _ = run_ok(extract(model_dir, csv_file, store), capsys)
    by_column, err = run_ok(extract(model_dir, csv_file, store, "--split-column", "fold"), capsys)
    assert "reviews.csv: split by column 'fold': 45 train, 15 test" in err
    half, _ = run_ok(extract(model_dir, csv_file, store, "--test-fraction", "0.5"), capsys)
    seeded, _ = run_ok(extract(model_dir, csv_file, store, "--split-seed", "1"), capsys)
    assert (by_column["n_sequences"], half["n_sequences"], seeded["n_sequences"]) == (15, 30, 12)
    assert len({s["entry"] for s in (default, by_column, half, seeded)}) == 4
    assert not any(s["cache_hit"] for s in (default, by_column, half, seeded))
    again, err = run_ok(extract(model_dir, csv_file, store, "--split-column", "fold"), capsys)
    assert again["cache_hit"] and again["entry"] == by_column["entry"]
    assert "split by column" not in err  # a cache hit does not read the file


def test_the_default_spelled_out_is_the_default(model_dir, csv_file, tmp_path, capsys):
    store = tmp_path / "store"
    default, _ = run_ok(extract(model_dir, csv_file, store), capsys)
    spelled, _ = run_ok(extract(model_dir, csv_file, store, "--test-fraction", "0.2", "--split-seed", "0"), capsys)
    assert spelled["cache_hit"] and spelled["entry"] == default["entry"]


@pytest.mark.parametrize("extra, fragment", [
    (["--split-column", "fold", "--test-fraction", "0.3"],
     "--split-column fold names each row's split, so --test-fraction cannot apply"),
    (["--split-column", "fold", "--split-seed", "2"], "so --split-seed cannot apply"),
    (["--test-fraction", "1.5"], "must lie strictly between 0 and 1, got 1.5"),
    (["--split-column", "label"], "label_column and split_column are both 'label'"),
    (["--split-column", "text"], "text_column and split_column are both 'text'"),
    (["--split-column", "kind"], "column 'kind' (split_column) is not in reviews.csv"),
])
def test_bad_split_options_are_one_line_and_exit_2(model_dir, csv_file, tmp_path, capsys, extra, fragment):
    store = tmp_path / "store"
    assert fragment in one_error_line(extract(model_dir, csv_file, store, *extra), capsys, "extract")
    assert not store.exists() or not any(store.rglob("*"))


def test_bad_split_values_are_named(model_dir, tmp_path, capsys):
    path = tmp_path / "reviews.csv"
    frame = pd.DataFrame({"text": ["good fun"] * 6 + ["bad dull"] * 6, "label": ["pos"] * 6 + ["neg"] * 6,
                          "fold": ["train", "test", "dev", "train", "holdout", "test"] * 2})
    frame.to_csv(path, index=False)
    line = one_error_line(extract(model_dir, path, tmp_path / "store", "--split-column", "fold"), capsys, "extract")
    assert "split column 'fold' has values other than train and test: 'dev' (2 rows), 'holdout' (2 rows)" in line
    assert "each row must say train, training, test, testing (any case)" in line


def test_an_error_after_the_file_was_split_is_still_one_line(model_dir, tmp_path, capsys):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["good fun", "bad dull"] * 10, "label": ["yes", "no"] * 10}).to_csv(path, index=False)
    line = one_error_line(extract(model_dir, path, tmp_path / "store"), capsys, "extract")
    assert "was trained on classes ['neg', 'pos']" in line


def test_split_options_on_a_registered_corpus(model_dir, tmp_path, capsys):
    args = ["extract", "--model", str(model_dir), "--dataset", "rotten_tomatoes", "--test-fraction", "0.3",
            "--store", str(tmp_path / "store")]
    assert "registered corpus with its own train/test split" in one_error_line(args, capsys, "extract")


def test_extract_warns_when_the_model_saw_another_split(model_dir, csv_file, tmp_path, capsys):
    trained = tmp_path / "trained"
    shutil.copytree(model_dir, trained)
    provenance = {"source": "user file", "dataset": "reviews.csv", "label_column": "label",
                  "split": "stratified", "test_fraction": 0.3, "seed": 0}
    (trained / "metrics.json").write_text(json.dumps({"corpus_provenance": provenance}))
    _, err = run_ok(extract(trained, csv_file, tmp_path / "store"), capsys)
    assert ("rnnpanel extract: warning: the model was trained on a 70/30 stratified split by label (seed 0) of "
            "reviews.csv, but this uses a 80/20") in err
    _, err = run_ok(extract(trained, csv_file, tmp_path / "store", "--test-fraction", "0.3"), capsys)
    assert "warning" not in err


# -- train -----------------------------------------------------------------------------------------
def train(csv_file, out, *extra: str) -> list[str]:
    return ["train", "--dataset", str(csv_file), "--text-column", "text", "--label-column", "label",
            "--out", str(out), "--no-progress", "--epochs", "1", "--hidden", "4", "--embedding", "4", *extra]


@pytest.fixture
def restore_threads():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_train_uses_and_records_the_split_column(csv_file, tmp_path, capsys, restore_threads):
    out = tmp_path / "model"
    summary, err = run_ok(train(csv_file, out, "--split-column", "fold"), capsys)
    assert "reviews.csv: split by column 'fold': 45 train, 15 test" in err
    metrics = load_model(out).metrics
    assert summary["n_test"] + metrics["dropped_empty"]["test"] == 15
    assert metrics["corpus_provenance"]["split_column"] == "fold"
    assert load_model(out).config.class_names == ("neg", "pos")
    _, err = run_ok(extract(out, csv_file, tmp_path / "store", "--split-column", "fold"), capsys)
    assert "warning" not in err


def test_train_prints_the_default_split(csv_file, tmp_path, capsys, restore_threads):
    _, err = run_ok(train(csv_file, tmp_path / "model"), capsys)
    assert err.count(DEFAULT_LINE) == 1


def test_train_refuses_a_split_column_with_a_fraction(csv_file, tmp_path, capsys):
    out = tmp_path / "model"
    line = one_error_line(train(csv_file, out, "--split-column", "fold", "--test-fraction", "0.3"), capsys, "train")
    assert "--split-column fold names each row's split, so --test-fraction cannot apply" in line
    assert not out.exists()
