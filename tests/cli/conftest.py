"""Shared by the benchmark command tests: a real model trained briefly on the real Rotten Tomatoes corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

WORDS = {"pos": ["good", "great", "fun", "warm"], "neg": ["bad", "dull", "poor", "cold"]}
FILLER = ["the", "film", "a", "plot", "and", "."]


def review_rows(n: int = 60) -> list[dict]:
    """``n`` short synthetic reviews, alternating neg and pos, each with words of its class."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        rows.append({"text": " ".join(rng.choice(WORDS[label] + FILLER, size=int(rng.integers(2, 15)))),
                     "label": label})
    return rows


def untrained_gru(csv_file: Path, directory: Path, **config) -> Path:
    """An untrained GRU over the file's vocabulary, saved to ``directory``: extraction needs weights,
    not good ones."""
    from rnnpanel.data.text import Vocabulary, tokenize
    from rnnpanel.models import ModelConfig, save_model
    from rnnpanel.models.io import build_classifier

    vocab = Vocabulary.build((tokenize(t) for t in pd.read_csv(csv_file)["text"]), min_freq=1)
    config = ModelConfig(cell="gru", vocab_size=len(vocab), n_classes=2, embedding_dim=6, hidden_size=5,
                         class_names=("neg", "pos"), max_length=10, **config)
    save_model(directory, build_classifier(config, seed=0), vocab)
    return directory


@pytest.fixture(scope="module")
def quick_rt_model(tmp_path_factory, shared_home) -> Path:
    """One epoch on 400 training texts: real states in seconds (the fixture is for slow tests only)."""
    from rnnpanel.models.training import TrainingRecipe
    from rnnpanel.pipeline.demo import DemoSpec, ensure_demo_model

    spec = DemoSpec("rotten_tomatoes", n=50, recipe=TrainingRecipe(max_epochs=1, val_fraction=0.0), max_train=400)
    return ensure_demo_model(spec, tmp_path_factory.mktemp("models"), progress=False)
