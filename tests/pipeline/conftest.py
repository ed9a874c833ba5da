"""A real store entry made by a real (small, untrained) LSTM over random token sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnpanel.compute.extraction import extract_states
from rnnpanel.models import ModelConfig, RecurrentClassifier
from rnnpanel.store import StateStore, entry_key


def write_model_entry(store: StateStore, *, n_sequences: int = 60, layers: int = 2, hidden: int = 12,
                      seed: int = 0, created: float | None = None):
    """Extract the states of a random 2-class LSTM over ``n_sequences`` token sequences into ``store``."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)  # the test's own model weights; library code never seeds globally
    config = ModelConfig(cell="lstm", vocab_size=30, n_classes=2, embedding_dim=8, hidden_size=hidden,
                         num_layers=layers, class_names=("neg", "pos"), dataset="toy")
    model = RecurrentClassifier(config).eval()
    sequences = [rng.integers(2, 30, size=int(rng.integers(3, 12))).tolist() for _ in range(n_sequences)]
    labels = rng.integers(0, 2, size=n_sequences)
    ext = extract_states(model, sequences, device="cpu")
    arrays = {"offsets": ext.offsets, "token_ids": ext.token_ids, "labels": labels, "predictions": ext.predictions,
              "probs": ext.probs, "ep": ext.ep, "sequence_ids": np.arange(n_sequences)}
    for i, layer in enumerate(ext.layers):
        for kind, values in layer.items():
            arrays[f"layer_{i}/{kind}"] = values
    key = entry_key(weights_sha256=f"random-{seed}", dataset="toy", split="test",
                    sequence_ids=np.arange(n_sequences), max_length=100, truncation="last")
    attrs = {"layers": layers, "hidden_size": hidden, "state_size": hidden, "bidirectional": False,
             "state_kinds": ["h", "c"], "model_config": config.to_dict(), "dataset": "toy", "split": "test",
             "model_name": "toy-lstm", "class_names": ["neg", "pos"], "n_sequences": n_sequences,
             "n_states": ext.n_states}
    if created is not None:
        attrs["created"] = created
    words = ["<pad>", "<unk>"] + [f"w{i}" for i in range(2, 30)]
    return store.write_entry(key, arrays, attrs, words)


@pytest.fixture
def store_with_entry(tmp_path):
    store = StateStore(tmp_path / "store")
    entry = write_model_entry(store)
    return store, entry


def synthetic_source(folder, *, n_texts: int, min_len: int = 5, max_len: int = 60, n_words: int = 200,
                     cell: str = "lstm", hidden: int = 8, layers: int = 2, bidirectional: bool = False,
                     max_length: int = 64, seed: int = 0):
    """A labelled CSV of random texts and an untrained model folder over its words: ``(csv, model_dir)``.

    The synthetic source for tests that need real extraction runs of a chosen size in seconds.
    """
    import pandas as pd

    from rnnpanel.data.text import SPECIAL_TOKENS, Vocabulary
    from rnnpanel.models import save_model

    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n_words)]
    lengths = rng.integers(min_len, max_len + 1, size=n_texts)
    texts = [" ".join(rng.choice(words, size=int(n))) for n in lengths]
    labels = np.where(rng.random(n_texts) < 0.5, "neg", "pos")
    csv = folder / "synthetic.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(csv, index=False)
    vocab = Vocabulary(list(SPECIAL_TOKENS) + words)
    torch.manual_seed(seed)  # the test's own weights; library code never seeds globally
    config = ModelConfig(cell=cell, vocab_size=len(vocab.words), n_classes=2, embedding_dim=16,
                         hidden_size=hidden, num_layers=layers, bidirectional=bidirectional,
                         max_length=max_length, truncation="first", class_names=("neg", "pos"))
    model_dir = folder / f"{cell}-{hidden}"
    save_model(model_dir, RecurrentClassifier(config).eval(), vocab)
    return csv, model_dir
