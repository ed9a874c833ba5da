"""Fixtures for the model tests.

A temporary RNNPANEL_HOME, small hand-made data, and real corpora from the shared cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rnnpanel.data.corpus import Corpus, Split
from rnnpanel.data.text import Vocabulary, tokenize

# Captured at import, before any test swaps the variable: where the real corpora are cached.
_CORPUS_HOME = os.environ.get("RNNPANEL_HOME") or str(Path.home() / ".cache" / "rnnpanel")

POSITIVE = ["good", "great", "fine", "superb", "lovely", "moving"]
NEGATIVE = ["bad", "awful", "dull", "boring", "weak", "messy"]
NEUTRAL = ["film", "the", "a", "plot", "actor", "story", "scene", "was", "is", "and"]


@pytest.fixture(autouse=True)
def _temporary_home(tmp_path_factory, monkeypatch):
    """Every model test writes under a throw-away RNNPANEL_HOME."""
    monkeypatch.setenv("RNNPANEL_HOME", str(tmp_path_factory.mktemp("rnnpanel_home")))


def make_texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Short synthetic reviews whose class is the majority sentiment of their words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(NEUTRAL, size=int(rng.integers(2, 8))))
        words += list(rng.choice(POSITIVE if label else NEGATIVE, size=int(rng.integers(1, 4))))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64)


@pytest.fixture
def tiny_corpus() -> Corpus:
    train_texts, train_labels = make_texts(160, seed=1)
    test_texts, test_labels = make_texts(40, seed=2)
    return Corpus(
        name="tiny",
        class_names=("negative", "positive"),
        train=Split(tuple(train_texts), train_labels),
        test=Split(tuple(test_texts), test_labels),
    )


@pytest.fixture
def tiny_vocab(tiny_corpus) -> Vocabulary:
    return Vocabulary.build((tokenize(t) for t in tiny_corpus.train.texts), min_freq=1)


def _load_real(name: str) -> Corpus:
    from rnnpanel.data import load_corpus

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNPANEL_HOME", _CORPUS_HOME)
        return load_corpus(name, progress=False)


@pytest.fixture(scope="session")
def real_corpus():
    """Load a registered corpus from the persistent cache (downloaded once per machine)."""
    cache: dict[str, Corpus] = {}

    def get(name: str) -> Corpus:
        if name not in cache:
            cache[name] = _load_real(name)
        return cache[name]

    return get


@pytest.fixture
def corpus_home(monkeypatch) -> Path:
    """Point RNNPANEL_HOME at the persistent corpus cache, for tests that run the CLI on a real corpus."""
    monkeypatch.setenv("RNNPANEL_HOME", _CORPUS_HOME)
    return Path(_CORPUS_HOME)
