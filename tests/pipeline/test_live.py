"""Live input: a typed text read by the entry's own model, placed in the entry's map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnpanel.errors import DataError, StoreError
from rnnpanel.pipeline.live import live_sample
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.store import StateStore

WORDS = ("good", "bad", "film", "plot", "actor", "boring", "great", "story")


@pytest.fixture(scope="module", params=[("lstm", False), ("gru", True)], ids=["lstm", "bidirectional-gru"])
def live_entry(request, tmp_path_factory):
    """A store entry extracted by the real pipeline from a CSV, with its (untrained) model saved."""
    from rnnpanel.data import load_user_file
    from rnnpanel.data.text import Vocabulary, tokenize
    from rnnpanel.models import ModelConfig, RecurrentClassifier, save_model
    from rnnpanel.pipeline.extract import extract_to_store

    work = tmp_path_factory.mktemp("live")
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 9)))) for _ in range(120)]
    csv = work / "reviews.csv"
    pd.DataFrame({"text": texts, "label": ["neg", "pos"] * 60}).to_csv(csv, index=False)
    corpus = load_user_file(csv, text_column="text", label_column="label")
    vocab = Vocabulary.build((tokenize(t) for t in corpus.train.texts), min_freq=1)
    torch.manual_seed(0)   # the test's own weights
    cell, bidirectional = request.param
    config = ModelConfig(cell=cell, vocab_size=len(vocab), n_classes=2, embedding_dim=8, hidden_size=12,
                         num_layers=2, bidirectional=bidirectional, class_names=tuple(corpus.class_names),
                         dataset="reviews", max_length=6)
    save_model(work / "model", RecurrentClassifier(config).eval(), vocab)
    entry, _ = extract_to_store(work / "model", str(csv), n=60, store_root=work / "store", progress=False,
                                text_column="text", label_column="label")
    return work, entry, corpus


@pytest.mark.parametrize("layer,state", [(-1, "h"), (0, "h_bwd")])
def test_a_stored_text_typed_again_gives_its_stored_states_and_lands_on_them(live_entry, layer, state):
    work, entry, corpus = live_entry
    if state not in entry.state_choices:
        state = "h"
    s = 3
    text = corpus.split("test").texts[int(entry.load("sequence_ids")[s])]
    states = EntryStates(StateStore(work / "store").entry(entry.key).states(layer=layer, kind=state))
    read = live_sample(states, text, method="pca")
    live = read.sample
    stored = states.sample(method="pca")
    rows = stored.sequence_slice(s)
    np.testing.assert_allclose(read.states, entry.states(layer=layer, kind=state).read_all()[rows], atol=1e-5)
    assert live.n_sequences == 1 and list(live.words) == list(stored.words[rows])
    np.testing.assert_allclose(live.ep, stored.ep[rows], atol=1e-5)
    assert live.predictions[0] == stored.predictions[s] and live.n_cut[0] == stored.n_cut[s]
    np.testing.assert_allclose(live.xy, stored.xy[rows], atol=1e-4)      # PCA places by transform
    np.testing.assert_allclose(live.step_distance, stored.step_distance[rows], atol=1e-5, equal_nan=True)
    assert live.projection.startswith("pca · placed by")


def test_unknown_words_are_dropped_and_the_window_is_applied(live_entry):
    work, entry, _ = live_entry
    state = "c" if "c" in entry.state_choices else "h_fwd"
    live = live_sample(EntryStates(StateStore(work / "store").entry(entry.key).states(layer=0, kind=state)),
                       "zebra good quokka film bad plot great story actor", method="pca").sample
    assert list(live.words) == ["film", "bad", "plot", "great", "story", "actor"]   # the last 6 known words
    assert live.n_cut[0] == 1 and live.layer == 0 and live.state == state
    assert np.isfinite(live.xy).all() and live.ep.shape == (6, 2)


def test_bad_input_says_what_to_do(live_entry, tmp_path):
    work, entry, _ = live_entry
    with pytest.raises(DataError, match="knows none of these words"):
        live_sample(EntryStates(StateStore(work / "store").entry(entry.key).states()), "zebra quokka !", method="pca")
    bad_kind = "c_bwd" if not entry.attrs["bidirectional"] else "c"
    with pytest.raises(StoreError, match="state kind"):
        EntryStates(StateStore(work / "store").entry(entry.key).states(kind=bad_kind))
