"""Model + user CSV → store entry: contents, sampling, the cache, and refusals of bad input.

The fixtures live here rather than in ``conftest.py``: a small labelled CSV file and a tiny
2-layer LSTM really trained on it with :func:`rnnpanel.models.training.train_model`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnpanel.data import load_user_file
from rnnpanel.data.text import tokenize
from rnnpanel.errors import DataError, ModelError
from rnnpanel.models import load_model, save_model
from rnnpanel.models.encoding import encode_split
from rnnpanel.pipeline import extract as pipeline
from rnnpanel.pipeline.extract import choose_sample, extract_to_store
from rnnpanel.store import StateStore

COLUMNS = {"text_column": "review", "label_column": "sentiment"}
POSITIVE = ["good", "great", "fine", "lovely", "fun", "bright", "warm", "smart"]
NEGATIVE = ["bad", "awful", "dull", "poor", "boring", "weak", "cold", "messy"]
NEUTRAL = ["the", "film", "plot", "a", "and", "cast", "story", ",", "."]


def write_reviews(path: Path, *, n: int = 120, seed: int = 0) -> Path:
    """``n`` short reviews (label pos/neg, 2 to 24 tokens), plus rows whose words the vocabulary lacks."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = POSITIVE if label == "pos" else NEGATIVE
        length = int(rng.integers(2, 25))
        tokens = [str(rng.choice(words)) if rng.random() < 0.4 else str(rng.choice(NEUTRAL)) for _ in range(length)]
        rows.append({"review": " ".join(tokens), "sentiment": label, "id": i})
    # words seen once only: not in the vocabulary (min_freq 2), so these texts encode to nothing
    rows += [{"review": f"xyzzy{i} plugh{i}", "sentiment": "pos" if i % 2 else "neg", "id": n + i} for i in range(6)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def reviews_csv(tmp_path_factory) -> Path:
    return write_reviews(tmp_path_factory.mktemp("data") / "reviews.csv")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, reviews_csv) -> Path:
    """A 2-layer LSTM trained for two epochs on the CSV, with a 12-token window (so some texts are cut)."""
    from rnnpanel.models.training import TrainingRecipe, train_model

    corpus = load_user_file(reviews_csv, **COLUMNS)
    model, vocab, metrics = train_model(
        corpus,
        recipe=TrainingRecipe(max_epochs=2, val_fraction=0.0, batch_size=16, seed=0),
        cell="lstm", embedding_dim=8, hidden_size=6, num_layers=2, max_length=12, truncation="last",
        progress=False,
    )
    directory = tmp_path_factory.mktemp("models") / "tiny-lstm"
    save_model(directory, model, vocab, metrics=metrics)
    return directory


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A private RNNPANEL_HOME for one test."""
    monkeypatch.setenv("RNNPANEL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def run(model_dir, csv, store, **options):
    kwargs = {"split": "test", "seed": 0, "device": "cpu", "progress": False, **COLUMNS, **options}
    return extract_to_store(model_dir, str(csv), store_root=store, **kwargs)


def test_entry_holds_every_state_of_the_sample(home, tiny_model_dir, reviews_csv, tmp_path):
    store = tmp_path / "store"
    entry, summary = run(tiny_model_dir, reviews_csv, store, n=10, seed=3)

    assert summary["cache_hit"] is False
    assert summary["entry"] == entry.key and summary["store"] == str(store)
    assert summary["n_sequences"] == 10 and summary["layers"] == 2 and summary["hidden_size"] == 6
    assert summary["state_kinds"] == ["h", "c"] and summary["device"] == "cpu"

    loaded = load_model(tiny_model_dir)
    split = load_user_file(reviews_csv, **COLUMNS).test
    ids, n_cut, kept = encode_split(split, loaded.vocab, loaded.config)
    kept_rows = list(np.flatnonzero(kept))

    sequence_ids = entry.load("sequence_ids")
    offsets = entry.load("offsets")
    assert len(sequence_ids) == 10 and np.all(np.diff(sequence_ids) > 0)
    assert summary["n_states"] == offsets[-1] == entry.attrs["n_states"]
    np.testing.assert_array_equal(entry.load("labels"), split.labels[sequence_ids])
    words = entry.words()
    for s, row in enumerate(sequence_ids):
        position = kept_rows.index(row)
        assert list(entry.load("token_ids")[offsets[s] : offsets[s + 1]]) == ids[position]
        assert entry.load("n_cut")[s] == n_cut[position]
        known = [t for t in tokenize(split.texts[row]) if t in loaded.vocab]
        assert list(words[offsets[s] : offsets[s + 1]]) == known[-12:]  # the last 12 known tokens

    with torch.no_grad():
        sequences = [ids[kept_rows.index(r)] for r in sequence_ids]
        for s, seq in enumerate(sequences):
            logits = loaded.model(torch.tensor([seq]), torch.tensor([len(seq)]))
            np.testing.assert_allclose(entry.load("probs")[s], torch.softmax(logits, -1)[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(entry.load("ep")[offsets[1:] - 1], entry.load("probs"), atol=1e-5)
    np.testing.assert_array_equal(entry.load("predictions"), entry.load("probs").argmax(1))
    for layer in range(2):
        assert entry.states(layer=layer, kind="h").read_all().shape == (offsets[-1], 6)
        assert entry.states(layer=layer, kind="c").read_all().shape == (offsets[-1], 6)
    assert entry.attrs["weights_sha256"] == loaded.weights_sha256
    assert entry.attrs["class_names"] == ["neg", "pos"] and entry.attrs["dataset"] == "reviews.csv"
    assert 0.0 <= summary["accuracy"] <= 1.0
    assert summary["accuracy"] == pytest.approx(np.mean(entry.load("predictions") == entry.load("labels")))
    assert entry.attrs["max_length"] == 12 and entry.attrs["truncation"] == "last"
    assert entry.vocab_words == loaded.vocab.words


def test_identical_request_is_a_cache_hit_without_loading(home, tiny_model_dir, reviews_csv, tmp_path, monkeypatch):
    store = tmp_path / "store"
    first, _ = run(tiny_model_dir, reviews_csv, store, n=8)

    def no_extraction(*args, **kwargs):
        raise AssertionError("a cache hit must not load the corpus or the model")

    monkeypatch.setattr(pipeline, "_extract", no_extraction)
    again, summary = run(tiny_model_dir, reviews_csv, store, n=8, device="auto", batch_size=3)
    assert summary["cache_hit"] is True and again.key == first.key
    assert summary["seconds"] < 1.0
    assert len(StateStore(store).entries()) == 1


def test_other_sample_or_weights_never_hit_a_stale_entry(home, tiny_model_dir, reviews_csv, tmp_path):
    store = tmp_path / "store"
    base, _ = run(tiny_model_dir, reviews_csv, store, n=8, seed=0)
    other_seed, summary = run(tiny_model_dir, reviews_csv, store, n=8, seed=1)
    assert summary["cache_hit"] is False and other_seed.key != base.key
    assert not np.array_equal(other_seed.load("sequence_ids"), base.load("sequence_ids"))
    other_n, summary = run(tiny_model_dir, reviews_csv, store, n=9, seed=0)
    assert summary["cache_hit"] is False and other_n.key != base.key

    retrained = tmp_path / "retrained"
    shutil.copytree(tiny_model_dir, retrained)
    loaded = load_model(retrained)
    with torch.no_grad():
        loaded.model.head.bias[0] += 0.5  # shifts the probabilities
    save_model(retrained, loaded.model, loaded.vocab)
    changed, summary = run(retrained, reviews_csv, store, n=8, seed=0)
    assert summary["cache_hit"] is False and changed.key != base.key
    assert not np.allclose(changed.load("probs"), base.load("probs"))

    edited = tmp_path / "edited.csv"
    write_reviews(edited, seed=5)
    from_other_file, summary = run(tiny_model_dir, edited, store, n=8, seed=0)
    assert summary["cache_hit"] is False and from_other_file.key != base.key


def test_whole_split_when_n_is_absent_or_too_large(home, tiny_model_dir, reviews_csv, tmp_path):
    store = tmp_path / "store"
    everything, summary = run(tiny_model_dir, reviews_csv, store, n=None)
    loaded = load_model(tiny_model_dir)
    split = load_user_file(reviews_csv, **COLUMNS).test
    _, _, kept = encode_split(split, loaded.vocab, loaded.config)
    np.testing.assert_array_equal(everything.load("sequence_ids"), np.flatnonzero(kept))
    assert everything.attrs["sample"]["n_dropped_empty"] == int((~kept).sum()) > 0
    capped, summary = run(tiny_model_dir, reviews_csv, store, n=10_000)
    assert capped.key == everything.key and summary["cache_hit"] is True


def test_choose_sample_is_seeded_and_sorted():
    a, b, c = choose_sample(100, 10, 7), choose_sample(100, 10, 7), choose_sample(100, 10, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 100
    np.testing.assert_array_equal(choose_sample(5, None, 0), np.arange(5))


def _nothing_written(store) -> bool:
    return not store.exists() or not any(store.rglob("*"))


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"n": 0}, DataError, "positive number"),
        ({"split": "validation"}, DataError, "unknown split"),
        ({"device": "tpu"}, DataError, "unknown device"),
        ({"label_column": "stars"}, DataError, "'stars'"),
        ({"dataset": "no_such_corpus"}, DataError, "unknown dataset"),
    ],
)
def test_bad_requests_write_nothing(home, tiny_model_dir, reviews_csv, tmp_path, change, error, message):
    store = tmp_path / "store"
    options = {"split": "test", "seed": 0, "device": "cpu", "progress": False, "n": 5, **COLUMNS, **change}
    dataset = options.pop("dataset", str(reviews_csv))
    with pytest.raises(error, match=message):
        extract_to_store(tiny_model_dir, dataset, store_root=store, **options)
    assert _nothing_written(store)


def test_incomplete_or_missing_model_dir_is_refused(home, tiny_model_dir, reviews_csv, tmp_path):
    store = tmp_path / "store"
    with pytest.raises(ModelError, match="does not exist"):
        run(tmp_path / "nowhere", reviews_csv, store, n=5)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "vocab.json").unlink()
    with pytest.raises(ModelError, match="vocab.json is missing"):
        run(broken, reviews_csv, store, n=5)
    assert _nothing_written(store)


def test_model_of_other_classes_is_refused(home, tiny_model_dir, tmp_path):
    other = tmp_path / "other.csv"
    write_reviews(other)
    text = other.read_text().replace(",pos,", ",good,").replace(",neg,", ",bad,")
    other.write_text(text)
    store = tmp_path / "store"
    with pytest.raises(DataError, match="trained on classes"):
        run(tiny_model_dir, other, store, n=5)
    assert _nothing_written(store)
