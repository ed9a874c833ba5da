"""``rnnpanel train``: a real (tiny) run from a user file, and one-line exit-2 errors that leave nothing behind."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rnnpanel.cli import main
from rnnpanel.models import load_model
from rnnpanel.models.encoding import encode_split
from rnnpanel.models.training import predict_logits

from .conftest import make_texts


@pytest.fixture
def csv_file(tmp_path):
    texts, labels = make_texts(150, seed=4)
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"review": texts, "verdict": np.where(labels == 1, "pos", "neg")}).to_csv(path, index=False)
    return path


def train_args(csv_file, out, *extra):
    return ["train", "--dataset", str(csv_file), "--text-column", "review", "--label-column", "verdict",
            "--out", str(out), "--no-progress", *extra]


@pytest.fixture(autouse=True)
def restore_threads():
    """``--threads`` changes the process' torch thread count on purpose; give the next tests theirs back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_train_writes_a_loadable_model_and_metrics(tmp_path, csv_file, capsys):
    out = tmp_path / "models" / "gru"
    code = main(train_args(csv_file, out, "--cell", "gru", "--hidden", "8", "--embedding", "8", "--epochs", "2",
                           "--max-length", "6", "--truncation", "first", "--seed", "3", "--threads", "1"))
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip())
    metrics = json.loads((out / "metrics.json").read_text())
    assert summary["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert metrics["recipe"]["seed"] == 3 and metrics["recipe"]["max_epochs"] == 2
    assert metrics["settings"]["window_from"] == {"max_length": "given", "truncation": "given"}

    loaded = load_model(out)
    assert (loaded.config.cell, loaded.config.hidden_size, loaded.config.max_length) == ("gru", 8, 6)
    assert loaded.config.class_names == ("neg", "pos")
    from rnnpanel.data import load_user_file

    corpus = load_user_file(csv_file, text_column="review", label_column="verdict")
    ids, _, kept = encode_split(corpus.test, loaded.vocab, loaded.config)
    hits = np.argmax(predict_logits(loaded.model, ids), axis=1) == corpus.test.labels[kept]
    assert metrics["test_accuracy"] == pytest.approx(hits.mean())
    assert sorted(p.name for p in out.parent.iterdir()) == ["gru"]


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (["--hidden", "0"], "hidden_size must be a positive integer"),
        (["--dropout", "1.5"], "dropout must lie in [0, 1)"),
        (["--lr", "-1"], "lr must be positive"),
        (["--threads", "-1"], "--threads must be 0 (torch's choice) or a positive integer"),
    ],
)
def test_bad_values_exit_2_with_one_line(tmp_path, csv_file, capsys, extra, fragment):
    out = tmp_path / "m"
    assert main(train_args(csv_file, out, "--epochs", "1", *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err
    assert not out.exists()


def test_unknown_dataset_and_missing_column_exit_2(tmp_path, csv_file, capsys):
    assert main(["train", "--dataset", "imdb_nope", "--out", str(tmp_path / "m")]) == 2
    assert "unknown dataset 'imdb_nope'" in capsys.readouterr().err
    assert main(["train", "--dataset", str(csv_file), "--text-column", "body", "--label-column", "verdict",
                 "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert "body" in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviews.csv"]


def test_out_that_is_not_a_model_dir_is_refused_before_training(tmp_path, csv_file, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "keep.txt").write_text("mine")
    assert main(train_args(csv_file, tmp_path / "docs")) == 2
    assert "not a model directory" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "docs").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("bad", [["--cell", "transformer"], ["--truncation", "middle"]])
def test_bad_choices_are_argparse_errors(tmp_path, csv_file, capsys, bad):
    with pytest.raises(SystemExit) as info:
        main(train_args(csv_file, tmp_path / "m", *bad))
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
