"""The compare view in a real browser against a real server, on models trained here on Rotten
Tomatoes (an LSTM, a GRU and a run with a checkpoint every epoch, each in seconds on 400 texts;
their states extracted over the same 60 test texts): a comparison opened by its link, a
disagreement selected from the list and drawn in both maps, the hovered state's partner marked in
the other map, and the run's slider moving the points of B's map in its data source. Screenshots
at two window sizes land in artifacts/."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from rnnpanel.store import StateStore
from tests.ui.conftest import open_page, running_app, screenshot, wait_until
from tests.ui.test_app_browser import COLUMN, FIND, SCREEN_XY, count

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUN_PARAMS = {"max_iter": 150}
SOURCE_X = "([name]) => { " + FIND + " const m = find(name); return m ? Array.from(m.data.x) : null; }"
MOVED = "([name]) => { " + FIND + " const m = find(name); return m ? (m.__rnnpanel_moved || 0) : -1; }"


@pytest.fixture(scope="module")
def rt_store(tmp_path_factory, shared_home):
    """An LSTM, a GRU and a run trained on 600 Rotten Tomatoes texts (three epochs each, a high
    learning rate: at the default one models this small predict one class for every text, and
    then agree on all of them), their entries over the same 60 test texts; PCA maps for the two
    models, the run's t-SNE maps chained (150 iterations) and its last epoch's own t-SNE map (the
    single view's). The run is trained as the LSTM was, so its last epoch has the LSTM's weights:
    its extraction is the LSTM's entry, found as the run's epoch by its weights."""
    from rnnpanel.data import load_corpus
    from rnnpanel.models.checkpoints import CheckpointKeeper, save_checkpoints
    from rnnpanel.models.io import save_model
    from rnnpanel.models.training import TrainingRecipe, train_model
    from rnnpanel.pipeline.demo import _limit_train
    from rnnpanel.pipeline.extract import extract_to_store
    from rnnpanel.pipeline.project import project_states
    from rnnpanel.pipeline.run_maps import project_run, run_entries

    folder = tmp_path_factory.mktemp("compare-ui")
    corpus = _limit_train(load_corpus("rotten_tomatoes", progress=False), 600)
    recipe = TrainingRecipe(max_epochs=3, val_fraction=0.0, lr=0.02, batch_size=16)
    small = {"hidden_size": 16, "embedding_dim": 8, "progress": False}
    store, keys = folder / "store", {}
    extract = {"n": 60, "store_root": store, "device": "cpu", "progress": False}
    for cell in ("lstm", "gru"):
        model, vocab, metrics = train_model(corpus, recipe=recipe, cell=cell, **small)
        save_model(folder / cell, model, vocab, metrics=metrics)
        entry, _ = extract_to_store(folder / cell, "rotten_tomatoes", **extract)
        project_states(entry.states(), method="pca")
        keys[cell] = entry.key
    keeper = CheckpointKeeper(1)
    model, vocab, metrics = train_model(corpus, recipe=recipe, on_epoch=keeper, **small)
    save_model(folder / "run", model, vocab, metrics=metrics)
    for c in save_checkpoints(folder / "run", model, vocab, keeper, best_epoch=3, metrics=metrics):
        extract_to_store(c.path, "rotten_tomatoes", **extract)
    from rnnpanel.pipeline.compare import compare_entries

    assert compare_entries(store_entry(store, keys["lstm"]), store_entry(store, keys["gru"]))["disagreements"]
    entries = run_entries(StateStore(store), str(folder / "run"))
    chain = project_run(entries, method="tsne", params=RUN_PARAMS, progress=False)
    other, _ = extract_to_store(folder / "lstm", "rotten_tomatoes", **{**extract, "split": "train", "n": 30})
    keys["other"] = other.key
    last = entries[-1][1]
    project_states(last.states(), method="tsne", progress=False)          # the single view's own map
    return {"store": store, **keys, "last": last.key, "epochs": [e for e, _ in entries],
            "chain": {epoch: result.embedding for epoch, result in chain.items()}}


def store_entry(store, key):
    return StateStore(store).entry(key)


@pytest.fixture(scope="module")
def compare_server(rt_store):
    yield from running_app(rt_store["store"])


def open_at(browser, url: str, viewport: dict | None = None):
    return contextmanager(open_page)(browser, url, "compare_b_map", viewport)


def disagreement_rows(pg):
    rows = pg.locator(".tabulator").filter(has_text="parts at").locator(".tabulator-row")
    wait_until(lambda: rows.count() > 0, timeout=30)
    return rows


def test_a_link_opens_a_comparison_and_a_disagreement_is_drawn_in_both_maps(browser, compare_server, rt_store):
    store = StateStore(rt_store["store"])
    lstm = store.entry(rt_store["lstm"])
    url = f"{compare_server}?entry={rt_store['lstm']}&projection=pca&compare={rt_store['gru']}"
    for viewport in ({"width": 1400, "height": 900}, {"width": 2200, "height": 1300}):
        with open_at(browser, url, viewport) as pg:
            n = lstm.attrs["n_states"]
            wait_until(lambda n=n: count(pg, "compare_a_points") == n and count(pg, "compare_b_points") > 0,
                       timeout=60)
            row = disagreement_rows(pg).first
            sequence_id = int(row.locator("[tabulator-field=id]").inner_text().replace(",", ""))
            index = int(np.flatnonzero(lstm.load("sequence_ids") == sequence_id)[0])
            length = int(np.diff(lstm.load("offsets"))[index])
            row.click()
            wait_until(lambda n=length: count(pg, "compare_a_trajectory_states") == n, timeout=30)
            wait_until(lambda: count(pg, "compare_b_trajectory_states") > 0)
            wait_until(lambda n=length: count(pg, "compare_ep_a") == n and count(pg, "compare_ep_b") > 0)
            assert count(pg, "compare_a_trajectory_segments") == length - 1
            assert pg.get_by_text(f"Sequence {sequence_id}").count() > 0
            # hovering a state of A's trajectory marks its partner in B's map, in the browser
            t = length // 2
            x, y = pg.evaluate(SCREEN_XY, ["compare_a_map", "compare_a_trajectory_states", t, "x", "y"])
            pg.mouse.move(x, y)
            wait_until(lambda: count(pg, "compare_b_partner") == 1, timeout=10)
            partner = pg.evaluate(SOURCE_X, ["compare_b_partner_src"])[0]
            assert partner == pytest.approx(pg.evaluate(COLUMN, ["compare_b_trajectory_states", "x"])[t], rel=1e-5)
            query = pg.evaluate("() => window.location.search")
            assert f"compare={rt_store['gru']}" in query and f"sequence={index}" in query
            pg.get_by_text("Loading the settings").wait_for(state="detached", timeout=60000)
            pg.mouse.move(x, y)
            wait_until(lambda: count(pg, "compare_b_partner") == 1, timeout=10)
            screenshot(pg, f"compare-{viewport['width']}")          # the hovered state and its partner
            assert pg.page_errors == []


def test_the_runs_slider_moves_the_points_of_bs_map(browser, compare_server, rt_store):
    first, last = rt_store["epochs"][0], rt_store["epochs"][-1]
    url = f"{compare_server}?entry={rt_store['last']}&projection=tsne&compare=run&sequence=2"
    with open_at(browser, url) as pg:
        wait_until(lambda: count(pg, "compare_b_points") > 0 and count(pg, "compare_b_trajectory_states") > 0,
                   timeout=60)
        before = np.asarray(pg.evaluate(SOURCE_X, ["compare_b_points_src"]))
        assert np.allclose(before, rt_store["chain"][first][:, 0], atol=1e-4)       # B starts at the first epoch
        trajectory = pg.evaluate(COLUMN, ["compare_b_trajectory_states", "x"])
        pg.locator("button.next").click()
        # the same source's positions change, travelling to the next epoch's map
        wait_until(lambda: pg.evaluate(MOVED, ["compare_b_points_src"]) >= 1, timeout=20)
        after = np.asarray(pg.evaluate(SOURCE_X, ["compare_b_points_src"]))
        nxt = rt_store["epochs"][1]
        assert not np.allclose(after, before) and np.allclose(after, rt_store["chain"][nxt][:, 0], atol=1e-4)
        assert pg.evaluate(COLUMN, ["compare_b_trajectory_states", "x"]) != trajectory
        wait_until(lambda: f"epoch={nxt}" in pg.evaluate("() => window.location.search"))
        assert pg.get_by_text(f"B: epoch {nxt}").count() > 0
        if nxt == last:
            assert pg.get_by_text("agrees with the last epoch on 100.0 %").count() > 0
        pg.get_by_text("Loading the settings").wait_for(state="detached", timeout=60000)
        screenshot(pg, "compare-run-1400")
        assert pg.page_errors == []


def test_a_link_to_other_texts_says_why_once_and_shows_the_entry_alone(browser, compare_server, rt_store):
    url = f"{compare_server}?entry={rt_store['lstm']}&projection=pca&compare={rt_store['other']}"
    with contextmanager(open_page)(browser, url, "projection") as pg:
        toasts = pg.locator(".notyf__toast")
        wait_until(lambda: toasts.count() > 0, timeout=30)
        pg.wait_for_timeout(1500)
        assert toasts.count() == 1 and "not over the same texts" in toasts.first.inner_text()
        assert pg.get_by_text("Cannot compare:").count() > 0                 # the notice above the map
        assert count(pg, "points") == StateStore(rt_store["store"]).entry(rt_store["lstm"]).attrs["n_states"]
        assert count(pg, "compare_a_points") == -1 and pg.page_errors == []
