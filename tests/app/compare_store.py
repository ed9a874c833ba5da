"""A small real store for the compare view's tests: short synthetic reviews (as ``small_store``), a
two-layer LSTM, a GRU and a run with a checkpoint at every epoch, all trained here in seconds and
extracted over the same 40 texts by the real pipeline; PCA maps for the two models and the run's
t-SNE maps chained (150 iterations), as `rnnpanel project --run RUN --max-iter 150` makes them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.ui.conftest import SMALL_NEUTRAL, SMALL_WORDS

RUN_EPOCHS = 3
#: The run's maps: few iterations, so the chain is made in seconds.
RUN_PARAMS = {"max_iter": 150}


def reviews_csv(folder, n: int = 200, seed: int = 0):
    """Short reviews of a few telling words among neutral ones, half positive."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = ("neg", "pos")[i % 2]
        words = list(rng.choice(SMALL_NEUTRAL, size=int(rng.integers(3, 8))))
        words += list(rng.choice(SMALL_WORDS[label], size=int(rng.integers(1, 4))))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    csv = folder / "reviews.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


@pytest.fixture(scope="session")
def compare_store(tmp_path_factory) -> dict:
    """Keys ``lstm`` (two layers), ``gru``, ``epochs`` (epoch → entry key), ``other`` (the LSTM over
    other texts), the ``store`` and the ``run`` folder."""
    from rnnpanel.data import load_user_file
    from rnnpanel.models import save_model
    from rnnpanel.models.checkpoints import CheckpointKeeper, save_checkpoints
    from rnnpanel.models.training import TrainingRecipe, train_model
    from rnnpanel.pipeline.extract import extract_to_store
    from rnnpanel.pipeline.project import project_states
    from rnnpanel.pipeline.run_maps import project_run, run_entries

    work = tmp_path_factory.mktemp("compare-store")
    csv = reviews_csv(work)
    (work / "other").mkdir()
    other_csv = reviews_csv(work / "other", n=60, seed=1)
    corpus = load_user_file(csv, text_column="text", label_column="label")
    recipe = TrainingRecipe(max_epochs=2, val_fraction=0.0)
    small = {"embedding_dim": 8, "hidden_size": 12, "progress": False}
    models = {}
    for name, options in (("lstm", {"cell": "lstm", "num_layers": 2}), ("gru", {"cell": "gru"})):
        model, vocab, metrics = train_model(corpus, recipe=recipe, **options, **small)
        save_model(work / name, model, vocab, metrics=metrics)
        models[name] = work / name
    keeper = CheckpointKeeper(1)
    model, vocab, metrics = train_model(corpus, recipe=TrainingRecipe(max_epochs=RUN_EPOCHS, val_fraction=0.0),
                                        on_epoch=keeper, **small)
    save_model(work / "run", model, vocab, metrics=metrics)
    checkpoints = save_checkpoints(work / "run", model, vocab, keeper, best_epoch=metrics.get("best_epoch", RUN_EPOCHS),
                                   metrics=metrics)
    store = work / "store"
    extract = {"n": 40, "store_root": store, "progress": False, "text_column": "text", "label_column": "label",
               "device": "cpu"}
    keys = {}
    for name, path in models.items():
        entry, _ = extract_to_store(path, str(csv), **extract)
        project_states(entry.states(), method="pca")
        keys[name] = entry.key
    for c in checkpoints:
        extract_to_store(c.path, str(csv), **extract)
    from rnnpanel.store import StateStore

    entries = run_entries(StateStore(store), str(work / "run"))
    project_run(entries, method="tsne", params=RUN_PARAMS)
    for _, entry in entries:
        project_states(entry.states(), method="pca")
    other, _ = extract_to_store(models["lstm"], str(other_csv), **{**extract, "n": 30})
    project_states(other.states(), method="pca")
    return {"store": store, **keys, "epochs": {epoch: e.key for epoch, e in entries}, "other": other.key,
            "run": str(work / "run")}
