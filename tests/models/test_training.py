"""Training: how texts become ids, batching, the recipe's checks.

And a short real run whose metrics are checked by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnpanel.data.corpus import Corpus, Split
from rnnpanel.data.text import Vocabulary
from rnnpanel.errors import ModelError
from rnnpanel.models import ModelConfig
from rnnpanel.models.training import (
    DATASET_WINDOWS,
    TrainingRecipe,
    bucketed_batches,
    categorical_accuracy,
    dataset_window,
    encode_split,
    predict_logits,
    train_model,
)

METRIC_KEYS = {"test_accuracy", "val_accuracy", "train_seconds", "n_train", "n_val", "n_test", "epochs_run",
               "best_epoch", "dropped_empty", "n_cut_texts", "settings", "recipe", "config", "history",
               "class_names", "dataset", "vocab_size"}


def window_config(vocab, side, max_length=3):
    return ModelConfig(cell="lstm", vocab_size=len(vocab), n_classes=2, max_length=max_length, truncation=side)


@pytest.mark.parametrize("side,expected", [("first", [[2, 3], [2, 3, 4]]), ("last", [[2, 3], [5, 6, 2]])])
def test_encode_split_drops_empty_texts_and_cuts_long_ones(side, expected):
    vocab = Vocabulary(["<pad>", "<unk>", "a", "b", "c", "d", "e"])
    split = Split(
        texts=("A b", "zzz qqq", "", "a b c d e a", "<unk> <pad>"),
        labels=np.array([0, 1, 0, 1, 0]),
    )
    ids, n_cut, kept = encode_split(split, vocab, window_config(vocab, side))
    assert kept.tolist() == [True, False, False, True, False]
    assert ids == expected
    assert n_cut.tolist() == [0, 3]
    assert split.texts[0] == "A b"  # input untouched


def test_bucketed_batches_cover_every_row_once_in_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=1003)
    batches = bucketed_batches(lengths, batch_size=16, bucket_batches=4, rng=np.random.default_rng(1))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1003))
    assert max(len(b) for b in batches) == 16
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < np.ptp(lengths) / 3  # sorted within chunks: far less padding than random batches


def test_categorical_accuracy_is_argmax_over_classes():
    logits = np.array([[0.1, 2.0, 0.3], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 5.0, 0.0]])
    assert categorical_accuracy(logits, np.array([1, 0, 2, 2])) == 0.75
    assert np.isnan(categorical_accuracy(np.zeros((0, 3)), np.zeros(0)))


@pytest.mark.parametrize(
    "kwargs,fragment",
    [({"lr": 0}, "lr"), ({"batch_size": 0}, "batch_size"), ({"val_fraction": 1.0}, "val_fraction"),
     ({"clip_norm": -1.0}, "clip_norm"), ({"optimizer": "sgd"}, "optimizer"), ({"max_epochs": 0}, "max_epochs")],
)
def test_recipe_rejects_bad_values(kwargs, fragment):
    with pytest.raises(ModelError, match=fragment):
        TrainingRecipe(**kwargs)


def test_dataset_windows_are_one_table():
    assert dataset_window("rotten_tomatoes") == {"max_length": 100, "truncation": "last"}
    assert dataset_window("reuters_r8") == {"max_length": 200, "truncation": "first"}
    assert dataset_window("my_file") == {"max_length": 100, "truncation": "last"}
    dataset_window("reuters_r8")["max_length"] = 1
    assert DATASET_WINDOWS["reuters_r8"]["max_length"] == 200


def test_training_on_hand_made_data_is_seeded_and_side_effect_free(tiny_corpus):
    recipe = TrainingRecipe(max_epochs=2, batch_size=16, seed=5, min_freq=1)
    before = torch.random.get_rng_state()
    model_a, vocab_a, metrics_a = train_model(
        tiny_corpus, recipe=recipe, hidden_size=8, embedding_dim=8, progress=False
    )
    model_b, vocab_b, _ = train_model(tiny_corpus, recipe=recipe, hidden_size=8, embedding_dim=8, progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert vocab_a == vocab_b
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))
    assert METRIC_KEYS <= set(metrics_a)
    assert metrics_a["n_train"] + metrics_a["n_val"] == len(tiny_corpus.train)
    assert metrics_a["settings"]["window_from"] == {"max_length": "dataset default", "truncation": "dataset default"}
    assert not model_a.training


def _subset(split: Split, n: int, seed: int) -> Split:
    rows = np.sort(np.random.default_rng(seed).choice(len(split), size=n, replace=False))
    return Split(tuple(split.texts[i] for i in rows), split.labels[rows])


def test_short_real_multiclass_run_reports_true_argmax_accuracy(real_corpus):
    """R8 has 8 classes: test_accuracy must equal a hand count of argmax hits on the kept test texts."""
    r8 = real_corpus("reuters_r8")
    small = Corpus(r8.name, r8.class_names, _subset(r8.train, 400, 0), _subset(r8.test, 150, 1), r8.provenance)
    model, vocab, metrics = train_model(
        small, recipe=TrainingRecipe(max_epochs=1, batch_size=32), max_length=40, progress=False
    )
    assert METRIC_KEYS <= set(metrics)
    assert metrics["epochs_run"] == 1 and metrics["best_epoch"] == 1
    assert metrics["settings"]["max_length"] == 40 and metrics["settings"]["truncation"] == "first"
    assert metrics["n_cut_texts"]["test"] > 0

    ids, _, kept = encode_split(small.test, vocab, model.config)
    logits = predict_logits(model, ids)
    hits = sum(int(np.argmax(row) == label) for row, label in zip(logits, small.test.labels[kept]))
    assert metrics["n_test"] == int(kept.sum()) == len(small.test) - metrics["dropped_empty"]["test"]
    assert metrics["test_accuracy"] == pytest.approx(hits / metrics["n_test"])
