"""rnnpanel.explore returns the app `panel serve apps/` shows, for a folder, a RecurrentClassifier or a module."""

from __future__ import annotations

import pytest

import rnnpanel
from rnnpanel.data.text import Vocabulary
from rnnpanel.errors import DataError, ModelError
from rnnpanel.explorer import store_states
from rnnpanel.models import save_model
from rnnpanel.models.adapter import from_module
from tests.explore.test_researcher_models import WORDS, BiGRU, PackedLSTM, built

TEXTS = ["w1 w2 w3 w4", "w5 w6", "w7 w8 w9 w1 w2", "w3 w3 w10"] * 5


def test_explore_returns_the_app_holding_the_states(tmp_path):
    from rnnpanel.app.session import RnnPanelApp

    app = rnnpanel.explore(built(BiGRU), TEXTS, [0, 1, 0, 1] * 5, class_names=["neg", "pos"], tokenizer=str.split,
                           vocab=[*WORDS[:-1], "PAD"], store=tmp_path / "store", method="pca", progress=False)
    assert isinstance(app, RnnPanelApp)
    assert app.sample.n_states == sum(len(t.split()) for t in TEXTS) and app.sample.xy.shape == (app.sample.n_states, 2)
    assert list(app.sample.words[:4]) == ["w1", "w2", "w3", "w4"]
    assert app.sample.class_names == ("neg", "pos")


def test_a_folder_and_a_recurrent_classifier_read_the_same_states(tmp_path):
    from rnnpanel.store import StateStore

    model = from_module(built(PackedLSTM), head="fc1")  # a Linear head: 16 classes
    save_model(tmp_path / "m", model, Vocabulary(WORDS))
    by_folder = store_states(tmp_path / "m", TEXTS, store=tmp_path / "s", progress=False)
    by_object = store_states(model, TEXTS, vocab=WORDS, store=tmp_path / "s", progress=False)
    store = StateStore(tmp_path / "s")
    a, b = store.entry(by_folder.entry_key), store.entry(by_object.entry_key)
    assert (a.load("token_ids") == b.load("token_ids")).all()
    assert abs(a.states(layer=-1, kind="h").read_all() - b.states(layer=-1, kind="h").read_all()).max() < 1e-6
    again = store_states(model, TEXTS, vocab=WORDS, store=tmp_path / "s", progress=False)
    assert (
        again.summary["cache_hit"] and again.entry_key == by_object.entry_key and again.model_dir == by_object.model_dir
    )


def test_user_mistakes_get_one_line_each(tmp_path):
    with pytest.raises(DataError, match="vocab"):
        store_states(built(BiGRU), TEXTS, store=tmp_path, progress=False)
    with pytest.raises(DataError, match="one label per text"):
        store_states(built(BiGRU), TEXTS, [0], vocab=WORDS, store=tmp_path, progress=False)
    with pytest.raises(DataError, match="no text has a token"):
        store_states(built(BiGRU), ["zzz"], vocab=WORDS, store=tmp_path, progress=False)
    with pytest.raises(ModelError, match="does not exist"):
        store_states(tmp_path / "no-model", TEXTS, store=tmp_path, progress=False)
    with pytest.raises(ModelError, match="nn.Module"):
        store_states(42, TEXTS, store=tmp_path, progress=False)
    with pytest.raises(DataError, match="class names"):
        store_states(built(BiGRU), TEXTS, class_names=["a", "b", "c"], vocab=WORDS, store=tmp_path, progress=False)


def test_two_models_or_a_run_open_the_compare_view(tmp_path):
    import torch

    from rnnpanel.models.checkpoints import CheckpointKeeper, save_checkpoints

    first = from_module(built(PackedLSTM), head="fc1")
    second = from_module(built(PackedLSTM), head="fc1")
    with torch.no_grad():
        for p in second.parameters():
            p.mul_(1.5)     # another model of the same shape: other weights, other states
    save_model(tmp_path / "a", first, Vocabulary(WORDS))
    save_model(tmp_path / "b", second, Vocabulary(WORDS))
    app = rnnpanel.explore([tmp_path / "a", tmp_path / "b"], TEXTS, store=tmp_path / "store", method="pca",
                           progress=False)
    b_key = store_states(tmp_path / "b", TEXTS, store=tmp_path / "store", progress=False).entry_key
    assert app.compare == b_key and app.entry != b_key

    keeper = CheckpointKeeper(1)
    keeper(1, first, {"val_accuracy": 0.5})
    keeper(2, second, {"val_accuracy": 0.6})
    save_model(tmp_path / "run", second, Vocabulary(WORDS))
    save_checkpoints(tmp_path / "run", second, Vocabulary(WORDS), keeper, best_epoch=2, metrics={})
    app = rnnpanel.explore(tmp_path / "run", TEXTS, store=tmp_path / "run-store", method="pca", progress=False)
    assert app.compare == "run" and app.comparison is not None
    with pytest.raises(ModelError, match="compares two models"):
        rnnpanel.explore([tmp_path / "a"], TEXTS, store=tmp_path / "store", progress=False)
