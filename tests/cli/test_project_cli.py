"""``rnnpanel project``: extract a real (small, untrained) model's states, then project them from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnpanel.cli import main
from rnnpanel.cli.project import STATE_KINDS, backend_choices
from rnnpanel.compute.projection import BACKEND_NAMES
from rnnpanel.data.text import Vocabulary, tokenize
from rnnpanel.models import ModelConfig, save_model
from rnnpanel.models.io import build_classifier
from rnnpanel.pipeline.extract import extract_to_store
from rnnpanel.store.state_kinds import STATE_KINDS as STORE_STATE_KINDS


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    words = ["good", "great", "bad", "dull", "the", "film", "plot", "and", "a", "."]
    rows = [{"text": " ".join(rng.choice(words, size=int(rng.integers(3, 14)))), "label": ["neg", "pos"][i % 2]}
            for i in range(120)]
    root = tmp_path_factory.mktemp("project-cli")
    csv = root / "reviews.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    vocab = Vocabulary.build((tokenize(r["text"]) for r in rows), min_freq=1)
    config = ModelConfig(cell="lstm", vocab_size=len(vocab), n_classes=2, embedding_dim=6, hidden_size=8,
                         num_layers=2, class_names=("neg", "pos"), max_length=20)
    save_model(root / "model", build_classifier(config, seed=0), vocab)
    extract_to_store(root / "model", str(csv), split="test", store_root=root / "store", device="cpu",
                     text_column="text", label_column="label", progress=False)
    return root / "store"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_pca_projection_prints_one_json_line_and_caches(store, capsys):
    code, out, err = run(capsys, "project", "--store", str(store), "--method", "pca", "--no-progress")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["backend_used"] == "pca" and summary["method"] == "pca" and summary["cache_hit"] is False
    assert summary["n_states"] > 0 and summary["n_fitted"] == summary["n_states"] and summary["layer"] == 1
    assert "pca ran on pca" in err
    code, out, err = run(capsys, "project", "--store", str(store), "--method", "pca", "--no-progress")
    again = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and again["cache_hit"] is True and again["projection_key"] == summary["projection_key"]
    assert "(cached result)" in err


def test_auto_tsne_says_which_backend_ran_and_why_others_were_skipped(store, capsys):
    code, out, err = run(capsys, "project", "--store", str(store), "--method", "tsne", "--backend", "auto",
                         "--perplexity", "5", "--max-iter", "60", "--layer", "0", "--state", "c", "--quality")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["layer"] == 0 and summary["state"] == "c" and 0 < summary["quality"]["trustworthiness"] <= 1
    if not torch.cuda.is_available():
        assert summary["backend_used"] == "opentsne"
        assert set(summary["skipped"]) == {"tsnecuda", "cuml"}
        assert "tsne ran on opentsne; skipped cuml: CuPy cannot use a CUDA device" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "umap", "--backend", "sklearn"], "computes tsne, not umap"),
        (["--layer", "5"], "layer 5 out of range"),
        (["--max-fit", "lots"], "--max-fit must be"),
        (["--entry", "missing"], "no entry 'missing'"),
        (["--state", "h_bwd", "--method", "pca"], "needs a bidirectional model"),
    ],
)
def test_bad_requests_exit_2_with_one_line(store, capsys, argv, message):
    code, out, err = run(capsys, "project", "--store", str(store), "--no-progress", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_an_explicit_gpu_backend_without_a_gpu_is_a_clear_error(store, capsys):
    if torch.cuda.is_available():  # pragma: no cover
        pytest.skip("a CUDA device is present")
    code, _, err = run(capsys, "project", "--store", str(store), "--backend", "tsnecuda", "--no-progress")
    assert code == 2 and "tsnecuda is not installed" in err and "gpu/README.md" in err


def test_choices_match_the_library():
    assert backend_choices()[1 : 1 + len(BACKEND_NAMES)] == list(BACKEND_NAMES)
    assert STATE_KINDS == STORE_STATE_KINDS
