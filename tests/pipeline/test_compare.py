"""Comparisons of real models trained here on Rotten Tomatoes: an LSTM, a GRU and a run with checkpoints.

Every figure `compare_entries` gives (and so `rnnpanel compare --json`) is recomputed here from the
two entries' stored arrays by plain loops, so the test does not share the code it checks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnpanel.cli import main
from rnnpanel.data import load_corpus
from rnnpanel.errors import StoreError
from rnnpanel.models.checkpoints import CheckpointKeeper, save_checkpoints
from rnnpanel.models.io import save_model
from rnnpanel.models.training import TrainingRecipe, train_model
from rnnpanel.pipeline.compare import SEQUENCE, STEP, compare_entries, pair_entries
from rnnpanel.pipeline.demo import _limit_train
from rnnpanel.pipeline.extract import extract_to_store
from rnnpanel.pipeline.project import project_states
from rnnpanel.store import StateStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_home):
    """Models trained on 600 Rotten Tomatoes texts, their entries over the same 150 test texts."""
    folder = tmp_path_factory.mktemp("compare")
    corpus = _limit_train(load_corpus("rotten_tomatoes", progress=False), 600)
    recipe = TrainingRecipe(max_epochs=3, patience=9)
    models = {}
    for cell in ("lstm", "gru"):
        model, vocab, metrics = train_model(corpus, recipe=recipe, cell=cell, hidden_size=16, embedding_dim=8,
                                            progress=False)
        save_model(folder / cell, model, vocab, metrics=metrics)
        models[cell] = folder / cell
    keeper = CheckpointKeeper(1)
    model, vocab, metrics = train_model(corpus, recipe=recipe, hidden_size=16, embedding_dim=8, progress=False,
                                        on_epoch=keeper)
    save_model(folder / "run", model, vocab, metrics=metrics)
    checkpoints = save_checkpoints(folder / "run", model, vocab, keeper, best_epoch=metrics["best_epoch"],
                                   metrics=metrics)
    short, vocab, metrics = train_model(corpus, recipe=TrainingRecipe(max_epochs=1), hidden_size=16,
                                        embedding_dim=8, max_length=8, progress=False)
    save_model(folder / "short", short, vocab, metrics=metrics)
    store = folder / "store"
    entries = {}
    for name, path in [*models.items(), ("short", folder / "short"),
                       *((f"epoch{c.epoch}", c.path) for c in checkpoints)]:
        entries[name], _ = extract_to_store(path, "rotten_tomatoes", n=150, store_root=store, device="cpu",
                                            progress=False)
    for name in ("lstm", "gru"):
        project_states(entries[name].states(), method="pca")
    return store, entries


def recomputed(a, b, threshold=0.25):
    """The comparison's figures by plain loops over the stored arrays (both entries hold the same
    sequences in the same order here)."""
    classes = a.attrs["class_names"]
    labels, pa, pb = a.load("labels"), a.load("predictions"), b.load("predictions")
    probs_a, probs_b, offsets = a.load("probs"), b.load("probs"), a.load("offsets")
    ep_a, ep_b = a.load("ep"), b.load("ep")
    table = [[0] * len(classes) for _ in classes]
    for x, y in zip(pa, pb):
        table[x][y] += 1
    disagreements = []
    for i in range(len(labels)):
        if pa[i] == pb[i]:
            continue
        parting = None
        for t in range(offsets[i + 1] - offsets[i]):
            if 0.5 * abs(ep_a[offsets[i] + t] - ep_b[offsets[i] + t]).sum() > threshold:
                parting = t
                break
        disagreements.append((i, 0.5 * abs(probs_a[i] - probs_b[i]).sum(), parting))
    disagreements.sort(key=lambda d: -d[1])
    return {
        "agreement": sum(int(x == y) for x, y in zip(pa, pb)) / len(pa),
        "confusion": table,
        "accuracy_a": {c: float(np.mean(pa[labels == k] == k)) for k, c in enumerate(classes)},
        "accuracy_b": {c: float(np.mean(pb[labels == k] == k)) for k, c in enumerate(classes)},
        "disagreements": disagreements,
    }


def test_two_models_figures_are_recomputable_from_the_store(trained):
    _, entries = trained
    a, b = entries["lstm"], entries["gru"]
    result = compare_entries(a, b)
    expected = recomputed(a, b)
    assert result["n_sequences"] == 150 and result["link"] == STEP
    assert result["agreement"] == pytest.approx(expected["agreement"])
    assert result["confusion"] == expected["confusion"]
    assert result["accuracy"]["a"]["by_class"] == pytest.approx(expected["accuracy_a"])
    assert result["accuracy"]["b"]["by_class"] == pytest.approx(expected["accuracy_b"])
    got = [(d["index"], d["final_distance"], d["parting_step"]) for d in result["disagreements"]]
    assert [g[0] for g in got] == [e[0] for e in expected["disagreements"]]
    assert [g[1] for g in got] == pytest.approx([e[1] for e in expected["disagreements"]])
    assert [g[2] for g in got] == [e[2] for e in expected["disagreements"]]
    assert len(got) == round((1 - expected["agreement"]) * 150)
    for d in result["disagreements"]:
        assert d["prediction_a"] != d["prediction_b"]
        assert np.argmax(d["probabilities_a"]) == a.attrs["class_names"].index(d["prediction_a"])
    maps = result["maps"]
    assert maps["corresponding_states"] == a.attrs["n_states"]
    assert maps["median_displacement_aligned"] <= maps["median_displacement_independent"]


def test_a_run_reports_accuracy_and_agreement_with_its_final_checkpoint_per_epoch(trained):
    _, entries = trained
    result = compare_entries(entries["epoch1"], entries["epoch3"])
    assert result["link"] == STEP
    rows = result["checkpoints"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    final = entries["epoch3"].load("predictions")
    labels = entries["epoch1"].load("labels")
    for row in rows:
        preds = entries[f"epoch{row['epoch']}"].load("predictions")
        assert row["accuracy"] == pytest.approx(float(np.mean(preds == labels)))
        assert row["agreement_with_final"] == pytest.approx(float(np.mean(preds == final)))
    assert rows[-1]["agreement_with_final"] == 1.0


def test_models_reading_other_windows_link_sequence_by_sequence_and_say_so(trained):
    _, entries = trained
    pairing = pair_entries(entries["lstm"], entries["short"])
    assert pairing.link == SEQUENCE and "sequence by sequence" in pairing.note
    result = compare_entries(entries["lstm"], entries["short"])
    assert all(d["parting_step"] is None for d in result["disagreements"])


def test_other_texts_are_refused_with_the_reason(trained, tmp_path):
    store, entries = trained
    other, _ = extract_to_store(entries["lstm"].attrs["model_dir"], "rotten_tomatoes", split="train", n=50,
                                store_root=tmp_path, device="cpu", progress=False)
    with pytest.raises(StoreError, match="not over the same texts .*rotten_tomatoes test against rotten_tomatoes tr"):
        compare_entries(entries["lstm"], other)


def test_the_command_prints_and_writes_the_same_figures(trained, tmp_path, capsys):
    store, entries = trained
    out = tmp_path / "compare.json"
    assert main(["compare", entries["lstm"].key[:8], entries["gru"].key, "--store", str(store),
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    written = json.loads(out.read_text())
    assert {"n_sequences", "agreement", "confusion", "accuracy", "disagreements"} <= set(written)
    assert f"agreement: {written['agreement']:.4f}" in printed
    assert written == json.loads(json.dumps(compare_entries(entries["lstm"], entries["gru"])))
    assert main(["compare", entries["lstm"].key, entries["lstm"].key, "--store", str(store)]) == 2
    assert "needs two layers" in capsys.readouterr().err
    assert StateStore(store).entry(entries["lstm"].key)


def test_a_runs_maps_are_chained_from_the_last_epoch_back_and_stay_aligned(trained):
    import hashlib

    from rnnpanel.compute.comparison import median_displacement
    from rnnpanel.pipeline.run_maps import project_run, run_entries

    store, entries = trained
    run = entries["epoch1"].attrs["checkpoint"]["run"]
    found = run_entries(StateStore(store), run)
    assert [epoch for epoch, _ in found] == [1, 2, 3]
    quick = {"params": {"max_iter": 150}, "progress": False}
    maps = project_run(found, **quick)
    for epoch in (1, 2):  # started from the next epoch's positions, recorded by their hash
        start = maps[epoch + 1].embedding
        recorded = maps[epoch].attrs["params"]["init"]
        assert recorded == {"array": list(start.shape),
                            "sha256": hashlib.sha256(np.ascontiguousarray(start).tobytes()).hexdigest()}
    assert all(project_run(found, **quick)[e].cache_hit for e in (1, 2, 3))
    alone = project_states(entries["epoch1"].states(), method="tsne", params={"max_iter": 150}, progress=False)
    assert alone.key != maps[1].key
    assert median_displacement(maps[2].embedding, maps[1].embedding) < \
        median_displacement(maps[2].embedding, alone.embedding)
