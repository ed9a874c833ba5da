"""The issue's acceptance: `rnnpanel train` with the paper's architecture and its default recipe reaches the targets."""

from __future__ import annotations

import json

import pytest
import torch

from rnnpanel.cli import main
from rnnpanel.models import load_model


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("dataset,target", [("rotten_tomatoes", 0.72), ("reuters_r8", 0.90)])
def test_default_training_reaches_the_target_accuracy(corpus_home, tmp_path, capsys, dataset, target):
    out = tmp_path / f"{dataset}-lstm"
    assert main(["train", "--dataset", dataset, "--out", str(out), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= target, metrics["history"]
    assert summary["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert metrics["train_seconds"] < 600
    config = load_model(out).config
    assert (config.cell, config.embedding_dim, config.hidden_size, config.num_layers, config.dropout) == (
        "lstm", 32, 100, 1, 0.5)
