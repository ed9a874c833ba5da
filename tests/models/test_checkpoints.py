"""``rnnpanel train --checkpoints K``: the model every K epochs and at the stop, as model folders of the run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from rnnpanel.cli import main
from rnnpanel.errors import ModelError
from rnnpanel.models import load_model
from rnnpanel.models.checkpoints import is_run, read_run

from .conftest import make_texts


@pytest.fixture
def csv_file(tmp_path):
    texts, labels = make_texts(200, seed=3)
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": texts, "label": np.where(labels == 1, "pos", "neg")}).to_csv(path, index=False)
    return path


def train(csv_file, out, *extra) -> int:
    return main(["train", "--dataset", str(csv_file), "--text-column", "text", "--label-column", "label",
                 "--out", str(out), "--no-progress", "--hidden", "8", "--embedding", "8", *extra])


def test_a_run_keeps_every_kth_epoch_and_the_last_as_loadable_models(csv_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(csv_file, run, "--epochs", "5", "--patience", "9", "--checkpoints", "2") == 0
    summary = json.loads(capsys.readouterr().out)
    checkpoints = read_run(run)
    assert [c.epoch for c in checkpoints] == [2, 4, 5]  # every second epoch, and the one it stopped at
    assert [c["epoch"] for c in summary["checkpoints"]] == [2, 4, 5]
    manifest = json.loads((run / "checkpoints.json").read_text())
    assert (manifest["every"], manifest["stopped_epoch"]) == (2, 5)
    history = {h["epoch"]: h for h in json.loads((run / "metrics.json").read_text())["history"]}
    best = load_model(run)
    for c in checkpoints:
        assert c.val_accuracy == history[c.epoch]["val_accuracy"]
        loaded = load_model(c.path)
        assert loaded.vocab == best.vocab and loaded.config == best.config
        same = all(torch.equal(a, b) for a, b in zip(loaded.model.state_dict().values(),
                                                     best.model.state_dict().values()))
        assert same == (c.epoch == manifest["best_epoch"])  # the run's own folder is its best epoch
    assert is_run(run) and not is_run(checkpoints[0].path)


def test_bad_checkpoint_settings_are_one_line(csv_file, tmp_path, capsys):
    assert train(csv_file, tmp_path / "run", "--epochs", "1", "--checkpoints", "0") == 2
    assert "--checkpoints must be a positive number of epochs, got 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    with pytest.raises(ModelError, match="has no checkpoints"):
        read_run(tmp_path)
