"""The compare view without a browser, driven as the browser drives it (parameters, Bokeh property
changes and events), on a small real store made here: a two-layer LSTM, a GRU and a run with a
checkpoint at every epoch, trained in seconds and extracted over the same texts
(tests/app/compare_store.py)."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from bokeh.events import Tap

from rnnpanel.app.compare_view import (
    LAYER_LABEL,
    NONE_LABEL,
    RUN_LABEL,
    CompareRequest,
    Comparison,
    compare_options,
)
from rnnpanel.app.deep_link import apply_link
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.compute.comparison import median_displacement, procrustes
from rnnpanel.pipeline import compared as compared_module
from rnnpanel.pipeline.compare import corresponding_states
from rnnpanel.pipeline.compared import RUN, compare_run, drawn_onto, stored_chain
from rnnpanel.pipeline.run_maps import run_entries
from rnnpanel.store import StateStore
from rnnpanel.views.compare import MOVE_JS, PARTNER_JS, disagreement_frame, ep_curve_columns, word_ticks
from tests.app.compare_store import RUN_PARAMS, compare_store  # noqa: F401 -- the fixture
from tests.ui.conftest import wait_until


def app_of(store: dict, entry: str, **params) -> RnnPanelApp:
    return RnnPanelApp(store_root=store["store"], entry=store[entry] if entry in store else entry, **params)


def rows_of(sample, s: int) -> slice:
    return sample.sequence_slice(s)


def test_a_link_opens_two_models_side_by_side_in_one_frame_and_one_colour_scale(compare_store):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca")
    apply_link(app, {"compare": compare_store["gru"]})
    view = app.comparison
    assert view is not None and view.active and app._main.objects[0] is view._panel
    pair = view.pair
    fig_a, fig_b = view.map_a.figure, view.map_b.figure
    # one frame: the same range objects (pan and zoom together), the same size, the same scale
    assert fig_a.x_range is fig_b.x_range and fig_a.y_range is fig_b.y_range
    assert (fig_a.min_width, fig_a.min_height, fig_a.sizing_mode) == (fig_b.min_width, fig_b.min_height,
                                                                      fig_b.sizing_mode)
    mappers = (view.map_a._mapper, view.map_b._mapper)
    assert (mappers[0].palette, mappers[0].low, mappers[0].high) == (mappers[1].palette, mappers[1].low,
                                                                     mappers[1].high)
    # B's map is brought onto A's: corresponding states closer than as fitted
    entries = StateStore(compare_store["store"])
    a, b = entries.entry(compare_store["lstm"]), entries.entry(compare_store["gru"])
    rows_a, rows_b = corresponding_states(a, b, pair.pairing)
    assert pair.link == "step" and pair.alignment["how"] == "procrustes"
    assert median_displacement(pair.a.xy[rows_a], pair.b.xy[rows_b]) == pytest.approx(pair.alignment["drawn"])
    assert pair.alignment["aligned"] < pair.alignment["fitted"] and pair.alignment["drawn"] < pair.alignment["fitted"]
    # the figures shown are compare_entries' own
    assert view.figures.object.count("<tr") == 1 + 1 + len(pair.a.class_names)      # heading, all, classes
    assert f"{100 * pair.figures['agreement']:.1f} %" in view.figures.object
    assert "Procrustes" in view.figures.object and "step by step" in view.figures.object
    # its models are named apart from the single view's and from each other's
    names = [m.name for m in (fig_a, fig_b, view.map_a.points, view.map_b.points, view.trajectory_a.states,
                              view.trajectory_b.states, view.trajectory_a.hover, view.trajectory_b.hover)]
    assert len(set(names)) == len(names) and all(n.startswith(("compare_a_", "compare_b_")) for n in names)
    assert not any(type(t).__name__ in ("BoxSelectTool", "LassoSelectTool") for t in fig_a.tools)


def test_a_selection_anywhere_draws_the_sequence_in_both_maps_and_both_ep_curves(compare_store):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca")
    app.compare = compare_store["gru"]
    view = app.comparison
    pair = view.pair
    # the list of disagreements: ranked as compare_entries ranks them, a click selects
    frame = view._table.value
    assert list(frame.index) == [d["index"] for d in pair.figures["disagreements"]]
    view._table.selection = [1]
    i = int(frame.index[1])
    assert app.sequence == i
    j = int(pair.b_of_a[i])
    for side, sample, s in ((view.trajectory_a, pair.a, i), (view.trajectory_b, pair.b, j)):
        assert np.allclose(side.states.data["x"], sample.xy[rows_of(sample, s), 0])
        assert len(side.segments.data["x0"]) == rows_of(sample, s).stop - rows_of(sample, s).start - 1
    label = int(pair.a.labels[i])
    assert np.allclose(view.ep_a.data["p"], pair.a.ep[rows_of(pair.a, i), label])
    assert np.allclose(view.ep_b.data["p"], pair.b.ep[rows_of(pair.b, j), label])
    ticks = view._ep_fig.xaxis[0].ticker.ticks
    assert [view._ep_fig.xaxis[0].major_label_overrides[t] for t in ticks] == [
        str(w) for w in pair.a.words[rows_of(pair.a, i)]][::ticks[1] - ticks[0] if len(ticks) > 1 else 1]
    assert f"Sequence {int(pair.a.sequence_ids[i])}" in view.header.object
    assert view.map_a._veil.visible and view.map_b._veil.visible
    # the arrow keys step through the table, and both maps follow
    app._keys.source.data = {"key": ["ArrowDown"], "n": [1]}
    assert app.sequence != i and len(view.trajectory_b.states.data["x"]) > 0
    assert view._table.selection in ([], [list(frame.index).index(app.sequence)])
    # a click on a state of B's map selects A's sequence paired with it
    s = 5
    state = pair.b.xy[int(pair.b.offsets[s])]
    view.map_b.points.selected.indices = [int(pair.b.offsets[s])]
    assert app.sequence == int(pair.a_of_b[s]) and np.allclose(view.trajectory_b.states.data["x"][0], state[0])
    app._keys.source.data = {"key": ["Escape"], "n": [2]}
    assert len(view.trajectory_a.states.data["x"]) == 0 and len(view.ep_b.data["p"]) == 0


def test_hover_in_one_map_marks_the_corresponding_state_in_the_other_in_the_browser(compare_store):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca")
    app.compare = compare_store["gru"]
    view = app.comparison
    for mine, other, fig in ((view.trajectory_a, view.trajectory_b, view.map_b.figure),
                             (view.trajectory_b, view.trajectory_a, view.map_a.figure)):
        callbacks = mine.hover.js_property_callbacks["change:data"]
        assert len(callbacks) == 1 and callbacks[0].code == PARTNER_JS
        assert callbacks[0].args["other"] is other.states and callbacks[0].args["mark"] is other.mark
        assert callbacks[0].args["link"] == "step"
        assert any(getattr(r, "data_source", None) is other.mark for r in fig.renderers)


def test_a_rasterised_pair_is_selected_by_a_click_near_a_state(compare_store):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca", raster_above=0)
    app.compare = compare_store["gru"]
    view = app.comparison
    pair, fig = view.pair, view.map_b.figure
    assert len(view.map_b.raster.data["image"]) == 1 and len(view.map_b.points.data["x"]) == 0
    state = int(pair.b.offsets[7]) + 1
    x, y = (float(v) for v in pair.b.xy[state])
    fig._trigger_event(Tap(fig, x=x, y=y))
    assert app.sequence >= 0
    assert pair.b_of_a[app.sequence] == pair.b.sequence_of_state[
        np.argmin(((pair.b.xy - pair.b.xy[state]) ** 2).sum(1))]


def test_other_texts_are_refused_with_the_stores_reason_and_the_single_view_stays(compare_store, caplog):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca")
    top = app._top
    with caplog.at_level(logging.WARNING):
        apply_link(app, {"compare": compare_store["other"]})
    assert app.compare == "" and (app.comparison is None or not app.comparison.active)
    assert app._main.objects[-2] is top
    notice = app._compare_notice
    assert notice.visible and "not over the same texts" in notice.object and app._main.objects[0] is notice
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("Cannot compare: entries") and "not over the same texts" in m for m in messages) == 1
    assert not any("This link asks for" in m for m in messages)        # said once, with the reason
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        app.compare = compare_store["other"]       # the URL's query read again as the page comes up
    assert app.compare == "" and notice.visible and not caplog.records
    app.compare = compare_store["gru"]                                  # a good one clears the notice
    assert app.comparison.active and not notice.visible and app._main.objects[0] is app.comparison._panel


def test_two_layers_of_one_entry_and_the_sidebar_offers_what_the_entry_can_be_compared_with(compare_store):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca")
    assert app.layer == 1
    app.compare = compare_store["lstm"]
    pair = app.comparison.pair
    assert (pair.a.layer, pair.b.layer) == (1, 0) and "layer 0" in app.comparison.map_b.figure.title.text
    app.layer_b = 1                                                     # the same layer twice: refused
    assert app.compare == "" and "layer 1 chosen twice" in app._compare_notice.object
    store = StateStore(compare_store["store"])
    listed = {f"label {k}": k for k in (compare_store["lstm"], compare_store["gru"], compare_store["epochs"][1])}
    options = compare_options(store, compare_store["lstm"], listed)
    assert options[NONE_LABEL] == "" and options[LAYER_LABEL] == compare_store["lstm"] and RUN_LABEL not in options
    assert compare_store["gru"] in options.values()
    options = compare_options(store, compare_store["epochs"][2], listed)
    assert options[RUN_LABEL] == RUN and LAYER_LABEL not in options


def test_the_sidebar_choice_follows_the_session_and_sets_it(compare_store):  # noqa: F811
    from rnnpanel.app.compare_view import compare_controls

    app = app_of(compare_store, "lstm", method="pca")
    _, choice, layer_row = compare_controls(app)
    assert choice.value == "" and not layer_row.visible
    choice.value = compare_store["gru"]
    assert app.compare == compare_store["gru"] and app.comparison.active
    app.compare = compare_store["lstm"]                                 # a link or the session
    assert choice.value == compare_store["lstm"] and layer_row.visible
    layer_row.objects[1].value = 0
    assert app.layer_b == 0 and app.comparison.pair.b.layer == 0
    choice.value = ""
    assert app.compare == "" and not app.comparison.active and app._main.objects[0] is app._top


def test_a_runs_checkpoints_move_in_place_from_epoch_to_epoch(compare_store):  # noqa: F811
    store = StateStore(compare_store["store"])
    app = app_of(compare_store, compare_store["epochs"][3], method="tsne")
    apply_link(app, {"compare": RUN, "sequence": "4"})
    view = app.comparison
    run = view.run
    assert run.epochs == [1, 2, 3] and run.epoch_a == 3 and app.epoch == view.epoch == 1
    # the maps are the run's chain, as `rnnpanel project --run RUN --max-iter 150` stored it
    entries = run_entries(store, compare_store["run"])
    request = {"backend": "auto", "params": RUN_PARAMS, "max_fit": "auto", "random_state": 0,
               "polish_iter": compared_module.DEFAULT_POLISH_ITER, "refine_iter": 0}
    chain = stored_chain(entries, request, layer=0, kind="h", method="tsne")
    assert sorted(chain) == [1, 2, 3]
    assert np.array_equal(view.map_a.sample.xy, chain[3].embedding)
    assert np.array_equal(view.map_b.sample.xy, chain[1].embedding) and view.pair.alignment["how"] == "chained"
    fig, points = view.map_b.figure, view.map_b.points
    assert [c.code for c in points.js_property_callbacks["change:data"]] == [MOVE_JS]     # they travel
    before = points.data["x"].copy()
    figures = view.figures.object
    # a step of the player: the same figure and source, the positions and colours of epoch 2
    view._player.value = 2
    assert app.epoch == 2 and view.epoch == 2 and view.map_b.figure is fig and view.map_b.points is points
    assert np.array_equal(points.data["x"], chain[2].embedding[:, 0]) and not np.array_equal(before, points.data["x"])
    assert np.allclose(view.trajectory_b.states.data["x"], chain[2].embedding[rows_of(view.pair.b, 4), 0])
    assert view.figures.object != figures and "epoch 2" in fig.title.text
    assert "<b>B: epoch 2</b>" in view._epochs.object
    # the session's epoch (a link, the URL) moves it too
    app.epoch = 3
    assert view._player.value == 3 and np.array_equal(points.data["x"], chain[3].embedding[:, 0])
    assert view.pair.figures["agreement"] == 1.0


def test_a_runs_missing_maps_are_computed_in_a_child_with_progress(compare_store, tmp_path):  # noqa: F811
    root = tmp_path / "store"
    shutil.copytree(compare_store["store"], root, ignore=shutil.ignore_patterns("projections", "derived"))
    messages = []
    run = compare_run(StateStore(root), compare_store["epochs"][2], layer=-1, method="pca",
                      report=lambda f, m="": messages.append((f, m)))
    assert run.how == "procrustes" and run.epochs == [1, 2, 3] and run.epoch_a == 2
    assert any("map of epoch 3 (1 of 3)" in m for _, m in messages) and messages[0][1].startswith("Starting a process")
    # the maps fitted one by one are aligned onto A's
    pair = run.pairs[1]
    assert pair.alignment["how"] == "procrustes" and pair.alignment["drawn"] <= pair.alignment["fitted"] + 1e-9


def test_a_comparison_asked_for_once_the_page_is_up_loads_in_a_worker_with_progress(compare_store):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca")
    app._page_up = True
    app.compare = compare_store["gru"]
    view = app.comparison
    wait_until(lambda: view.pair is not None, timeout=60)
    assert not view.progress.visible and view.status.object == ""
    assert app._main.objects[0] is view._panel


def test_the_figures_download_as_json(compare_store):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca")
    app.compare = compare_store["gru"]
    figures = json.loads(app.comparison.figures_json().getvalue())
    assert figures["agreement"] == app.comparison.pair.figures["agreement"]
    assert figures["maps_drawn"]["how"] == "procrustes"


def test_the_drawing_functions():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 2))
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    b = (a @ turn) * 3.0 + 7.0                       # A turned, scaled and shifted
    drawn = drawn_onto(a, b, procrustes(a, b).rotation, b)
    assert np.allclose(drawn, a, atol=1e-4)
    noisy = a + rng.normal(scale=2.0, size=a.shape)  # barely related: least squares would shrink it
    drawn = drawn_onto(a, noisy, procrustes(a, noisy).rotation, noisy)
    assert np.std(drawn) == pytest.approx(np.std(a), rel=0.05)
    ticks, labels = word_ticks([f"w{i}" for i in range(100)])
    assert ticks[:2] == [0, 3] and labels[3] == "w3" and len(ticks) <= 45


def test_drawing_a_sequences_ep_curves_and_the_disagreements(compare_store):  # noqa: F811
    view_app = app_of(compare_store, "lstm", method="pca")
    view_app.compare = compare_store["gru"]
    pair = view_app.comparison.pair
    columns = ep_curve_columns(pair.b, 3, 1, shift=2)
    rows = rows_of(pair.b, 3)
    assert list(columns["x"]) == list(np.arange(rows.stop - rows.start) + 2)
    assert np.allclose(columns["p"], pair.b.ep[rows, 1])
    frame = disagreement_frame(pair)
    assert list(frame["apart"]) == sorted(frame["apart"], reverse=True)
    assert all(frame["A"].str.split().str[0] != frame["B"].str.split().str[0])


def test_a_request_names_the_layer_of_b(compare_store):  # noqa: F811
    from rnnpanel.app.compare_view import default_layer_b

    store = StateStore(compare_store["store"])
    lstm, gru = compare_store["lstm"], compare_store["gru"]
    assert default_layer_b(store, CompareRequest(lstm, 1, "h", "pca", gru)) == 0
    assert default_layer_b(store, CompareRequest(lstm, 1, "h", "pca", lstm)) == 0
    assert default_layer_b(store, CompareRequest(lstm, 0, "h", "pca", lstm)) == 1
    assert default_layer_b(store, CompareRequest(gru, 0, "h", "pca", lstm)) == 1
    assert Comparison is not None


def test_word_search_rings_both_maps_and_the_close_button_leaves_the_comparison(compare_store):  # noqa: F811
    app = app_of(compare_store, "lstm", method="pca")
    app.compare = compare_store["gru"]
    view = app.comparison
    app.search = "good"
    for side in (view.map_a, view.map_b):
        words = side.sample.words
        found = side.found_src.data
        assert len(found["x"]) == int(np.sum(words == "good")) > 0
    close = next(o for row in view._panel.objects[:1] for o in row.objects if getattr(o, "label", "").startswith("✕"))
    close.clicks += 1
    assert app.compare == "" and not view.active and app._main.objects[0] is app._top
