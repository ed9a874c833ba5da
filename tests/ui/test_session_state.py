"""The session's state, driven the way the browser drives it (Bokeh property changes and events),
without a browser: keys, hover, clicks on a rasterised map, zoom, the raster threshold, live
input, search, export, the tabs and a drawn region. On a small real store made here (a tiny model
trained in the test and a real extract), so these run in the quick suite."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
from bokeh.events import RangesUpdate, SelectionGeometry, Tap

from rnnpanel.app.rastermap import frame_size
from rnnpanel.app.sequence_tabs import TABS
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.store import StateStore
from rnnpanel.views.raster import RING_CELL_PX
from tests.ui.conftest import wait_until

LIVE_TEXT = "a truly great and moving film though the plot is far too dull"


def browser_event(model, event) -> None:
    """Deliver ``event`` as Bokeh's server does when the browser sends it."""
    model._trigger_event(event)


def between(values: np.ndarray, q: float) -> float:
    """A coordinate near the ``q`` quantile that no state lies on (none on the region's border)."""
    ordered = np.sort(values.astype(np.float64))
    i = int(q * (len(ordered) - 1))
    return float((ordered[i] + ordered[i + 1]) / 2)


def make_app(small_store, **params) -> RnnPanelApp:
    return RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"], method="pca", **params)


def test_arrow_keys_and_escape_arrive_through_the_key_source(small_store):
    app = make_app(small_store)
    keys = app._keys.source
    keys.data = {"key": ["ArrowDown"], "n": [1]}
    assert app.sequence == 0 and app.shown.index == 0 and app.shown.sample is app.sample
    keys.data = {"key": ["ArrowDown"], "n": [2]}
    assert app.sequence == 1
    keys.data = {"key": ["ArrowUp"], "n": [3]}
    assert app.sequence == 0
    keys.data = {"key": ["Escape"], "n": [4]}
    assert app.sequence == -1 and not app.shown.present


def test_the_hovered_step_reaches_the_session_after_the_browser_drew_it(small_store):
    app = make_app(small_store)
    app.sequence = 2
    assert app.hover_step == -1
    app.views.hover.data = {"x": [0.0], "y": [0.0], "t": [3], "wx": [0.0], "wy": [0.0], "ww": [1.0]}
    assert app.hover_step == 3
    app.views.hover.data = {k: [] for k in app.views.hover.data}
    assert app.hover_step == -1


def test_a_rasterised_map_selects_by_geometry_and_rerasterises_on_zoom(small_store):
    app = make_app(small_store, raster_above=0)
    fig, sample, raster = app.map.figure, app.sample, app.map.raster
    assert len(app.map.points.data["x"]) == 0 and len(raster.data["image"]) == 1
    click = sample.xy[int(sample.offsets[4]) + 1] + np.float32(1e-3)   # beside a state of sequence 4
    browser_event(fig, Tap(fig, x=float(click[0]), y=float(click[1])))
    assert app.sequence >= 0
    distance = np.sqrt(((sample.xy - click) ** 2).sum(1))
    # the selected sequence holds the state nearest to the click
    assert distance[sample.sequence_slice(app.sequence)].min() == distance.min()
    # a click far from every state selects nothing new
    app.sequence = -1
    far = sample.xy.max(axis=0) + 100 * (sample.xy.max(axis=0) - sample.xy.min(axis=0))
    browser_event(fig, Tap(fig, x=float(far[0]), y=float(far[1])))
    assert app.sequence == -1
    before = raster.data["image"][0]
    x0, x1 = fig.x_range.start, fig.x_range.end
    y0, y1 = fig.y_range.start, fig.y_range.end
    browser_event(fig, RangesUpdate(fig, x0=x0, x1=(x0 + x1) / 2, y0=y0, y1=(y0 + y1) / 2))
    assert raster.data["x"] == [x0] and raster.data["dw"] == [pytest.approx((x1 - x0) / 2)]
    assert not np.array_equal(raster.data["image"][0], before)


def test_small_samples_are_drawn_as_glyphs_below_the_threshold(small_store):
    app = make_app(small_store)
    assert app.sample.n_states <= app.raster_above
    assert len(app.map.points.data["x"]) == app.sample.n_states and len(app.map.raster.data["image"]) == 0


def test_a_click_on_a_point_selects_its_sequence_and_fades_the_others(small_store):
    app = make_app(small_store)
    assert not app.map._veil.visible
    app.map.points.selected.indices = [int(app.sample.offsets[6]) + 1]
    assert app.sequence == 6 and app.map.points.selected.indices == [] and app.map._veil.visible
    assert "Sequence" in app.views.header.object
    assert list(app.tabs.table.selection) == [6]


def test_live_input_draws_the_typed_text_in_every_per_sequence_view(small_store):
    app = make_app(small_store)
    views = app.views
    app.sequence = 2
    app.live_text = LIVE_TEXT
    words = list(views.states.data["word"])
    assert 0 < len(words) <= 14 and set(words) <= set(LIVE_TEXT.split())
    assert app.sequence == -1 and app.shown.live and "Live input" in views.header.object
    assert len(views.bars.data["t"]) == len(words) - 1
    assert len(views.cells.data["t"]) == (app.sample.n_classes + 1) * len(words)
    details = app.tabs.details
    app.tabs.tabs.active = TABS.index("Units")                  # the unit view reads the live states
    assert details._units_src.data["image"][0].shape[1] == len(words)
    app.tabs.tabs.active = TABS.index("Neighbours")
    assert "of the live input" in details._neighbor_title.object
    assert len(details._neighbor_table.value) == 10
    app.tabs.tabs.active = 0
    app.sequence = 3                                            # a selected sequence replaces it
    assert not app.shown.live and app.live_input.read is None
    assert len(views.states.data["word"]) == app.sample.offsets[4] - app.sample.offsets[3]
    app.live_text = "zebra quokka"                              # no known word: a notice, nothing lost
    assert app.sequence == 3 and len(views.states.data["word"]) == app.sample.offsets[4] - app.sample.offsets[3]
    app.live_text = "great film"
    assert app.shown.live
    app._keys.source.data = {"key": ["Escape"], "n": [1]}
    assert len(views.states.data["word"]) == 0 and app.live_input.read is None and not app.shown.present


def test_the_live_input_moves_to_the_map_of_another_state_kind(small_store):
    app = make_app(small_store)
    app.live_text = "great film"
    before = app.shown
    app.state = "c"                                             # loaded in a worker thread
    wait_until(lambda: app.shown.live and app.shown.sample.state == "c", timeout=60)
    assert app.sample.state == "c" and app.shown is not before
    assert list(app.views.states.data["word"]) == ["great", "film"]


def test_word_search_rings_every_matching_state_and_export_writes_what_is_shown(small_store):
    app = make_app(small_store)
    words = np.char.lower(app.sample.words.astype(str))
    app.search = "the, fil*"
    expected = (words == "the") | np.char.startswith(words, "fil")
    assert expected.any()
    np.testing.assert_array_equal(app.map.found_src.data["x"], app.sample.xy[expected, 0])
    assert f"{int(expected.sum())} states" in app.word_search.status.object
    assert "ring" not in app.word_search.status.object          # a map of glyphs rings every one
    states = pd.read_parquet(app.downloads.states_parquet())
    assert len(states) == expected.sum() and set(np.char.lower(states["word"].to_numpy().astype(str))) <= (
        {"the"} | {w for w in words if w.startswith("fil")})
    app.search = ""
    assert len(app.map.found_src.data["x"]) == 0
    assert len(pd.read_parquet(app.downloads.states_parquet())) == app.sample.n_states
    app.sequence = 5
    frame = pd.read_csv(app.downloads.sequence_csv())
    rows = app.sample.sequence_slice(5)
    assert list(frame["word"].astype(str)) == [str(w) for w in app.sample.words[rows]]
    app.search = "zzzz-no-such-word"
    assert "no state" in app.word_search.status.object
    page = app.downloads.map_page().getvalue().decode()
    assert page.startswith("<!DOCTYPE html>") and 'src="static/' not in page and "Bokeh" in page


def _ringed_rows(app, found: np.ndarray) -> np.ndarray:
    """The found states ringed on the map, found back from the rings' coordinates."""
    at = {(float(x), float(y)): i for i, (x, y) in zip(np.flatnonzero(found), app.sample.xy[found].tolist())}
    return np.array(sorted(at[(float(x), float(y))] for x, y in zip(app.map.found_src.data["x"],
                                                                         app.map.found_src.data["y"])), dtype=int)


def _screen(xy: np.ndarray, x_range, y_range, frame) -> np.ndarray:
    return np.stack([(xy[:, 0] - x_range[0]) / (x_range[1] - x_range[0]) * frame[0],
                     (xy[:, 1] - y_range[0]) / (y_range[1] - y_range[0]) * frame[1]], axis=1)


def test_on_a_rasterised_map_search_rings_one_state_per_few_pixels_and_follows_the_zoom(small_store):
    app = make_app(small_store, raster_above=0)
    fig, xy = app.map.figure, app.sample.xy.astype(np.float64)
    app.search = "*"                                            # every state: many overlap on the whole map
    found = app.word_search.found
    assert found.sum() > 100 and f"{int(found.sum())} states" in app.word_search.status.object
    assert "one ring per few pixels" in app.word_search.status.object
    rows = _ringed_rows(app, found)
    assert 0 < len(rows) < found.sum() and found[rows].all()
    frame = frame_size(fig)
    x_range, y_range = (fig.x_range.start, fig.x_range.end), (fig.y_range.start, fig.y_range.end)
    # every found state is within one cell of a ringed one, on screen
    a, b = _screen(xy[found], x_range, y_range, frame), _screen(xy[rows], x_range, y_range, frame)
    assert np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min(1).max() <= RING_CELL_PX * np.sqrt(2)
    # zoomed in around a found state whose ring was merged into another's: it gets its own ring
    # there, with the image re-rasterised; no ring lies outside the new view
    gap = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min(1)      # to the nearest ring, in pixels
    assert gap.max() > 0                                       # (some states share a ring at distinct places)
    centre = xy[found][np.argmax(gap)]
    zoom = max(2.0, 4 * RING_CELL_PX / gap.max())              # that state 4 cells from any old ring
    half = np.array([x_range[1] - x_range[0], y_range[1] - y_range[0]]) / (2 * zoom)
    zx, zy = (centre[0] - half[0], centre[0] + half[0]), (centre[1] - half[1], centre[1] + half[1])

    def inside(r):
        return (xy[r, 0] >= zx[0]) & (xy[r, 0] < zx[1]) & (xy[r, 1] >= zy[0]) & (xy[r, 1] < zy[1])

    before = int(inside(rows).sum())
    browser_event(fig, RangesUpdate(fig, x0=zx[0], x1=zx[1], y0=zy[0], y1=zy[1]))
    assert app.map.raster.data["x"] == [zx[0]]
    zoomed = _ringed_rows(app, found)
    assert len(zoomed) > before and inside(zoomed).all()
    shown = np.flatnonzero(found & inside(np.arange(len(xy))))
    a, b = _screen(xy[shown], zx, zy, frame), _screen(xy[zoomed], zx, zy, frame)
    assert np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min(1).max() <= RING_CELL_PX * np.sqrt(2)
    app.search = ""
    assert len(app.map.found_src.data["x"]) == 0


def test_units_and_neighbors_tabs_follow_the_shown_sequence_and_hovered_word(small_store):
    app = make_app(small_store)
    details = app.tabs.details
    states = StateStore(small_store["store"]).entry(small_store["entry"]).states(layer=-1, kind="h").read_all()
    app.tabs.tabs.active = TABS.index("Units")
    app.sequence = 4
    rows = app.sample.sequence_slice(4)
    image = details._units_src.data["image"][0]
    assert image.shape == (states.shape[1], rows.stop - rows.start)
    assert sorted(image[:, 0].tolist()) == pytest.approx(sorted(states[rows.start].tolist()))
    app.tabs.tabs.active = TABS.index("Neighbours")
    table = details._neighbor_table.value
    assert len(table) == 10 and list(table["distance"]) == sorted(table["distance"])
    last = rows.stop - 1                                       # by default: the state that predicts
    brute = np.sqrt(((states - states[last]) ** 2).sum(1))
    brute[last] = np.inf
    assert table["distance"].iloc[0] == pytest.approx(brute.min(), abs=1e-3)
    app.views.hover.data = {"x": [0.0], "y": [0.0], "t": [1], "wx": [0.0], "wy": [0.0], "ww": [1.0]}
    word = html.escape(str(app.sample.words[rows.start + 1]))
    assert f"<b>{word}</b> (t = 1" in details._neighbor_title.object
    row = int(details._neighbor_table.value["row"].iloc[3])
    details._neighbor_table.selection = [3]                    # a neighbour's row selects its sequence
    assert app.sequence == row


def test_a_region_drawn_on_the_map_filters_the_table_and_lists_its_words(small_store):
    app = make_app(small_store, raster_above=0)
    fig, xy = app.map.figure, app.sample.xy
    x0, x1 = between(xy[:, 0], 0.2), between(xy[:, 0], 0.6)
    y0, y1 = between(xy[:, 1], 0.2), between(xy[:, 1], 0.6)
    browser_event(fig, SelectionGeometry(fig, geometry={"type": "rect", "x0": x0, "x1": x1, "y0": y0, "y1": y1},
                                         final=True))
    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    assert inside.any() and np.array_equal(app.map.region, inside)
    ids = set(app.sample.sequence_ids[np.unique(app.sample.sequence_of_state[inside])].tolist())
    assert set(app.tabs.table.current_view["id"]) == ids
    words = app.tabs.region_panel._words.value
    assert len(words) > 0 and set(words["word"]) <= set(app.sample.words[inside].astype(str))
    assert app.map.region_src.data["xs"] == [[x0, x1, x1, x0]]
    # the arrow keys follow the filtered table
    app._keys.source.data = {"key": ["ArrowDown"], "n": [1]}
    assert app.sequence == int(app.tabs.table.current_view.index[0])
    lasso = {"type": "poly", "x": [x0, x1, x0], "y": [y0, y0, y1]}
    browser_event(fig, SelectionGeometry(fig, geometry=lasso, final=True))
    assert 0 < app.map.region.sum() < inside.sum()
    app.tabs.region_panel._clear.clicks += 1                    # the Clear button
    assert len(app.tabs.table.current_view) == app.sample.n_sequences and not app.map.region_outline.visible
    assert app.map.region is None


@pytest.fixture
def damaged_store(small_store, tmp_path):
    """The small store copied with two more copies of its entry: one half-deleted (an array
    removed), one whose EP chunks are garbage (a damaged disk or a half-finished copy)."""
    import shutil

    root = tmp_path / "store"
    shutil.copytree(small_store["store"], root)
    entries = root / "entries"
    good = small_store["entry"]
    half, garbled = "0" * 20, "f" * 20
    for key in (half, garbled):     # without what the good entry's sessions derived from it (mapped copies)
        shutil.copytree(entries / good, entries / key, ignore=shutil.ignore_patterns("derived"))
    shutil.rmtree(entries / half / "ep")
    for chunk in (p for p in (entries / garbled / "ep").rglob("*") if p.is_file() and p.name != "zarr.json"):
        chunk.write_bytes(b"\x00not zstd" * 8)
    return {"store": root, "good": good, "half": half, "garbled": garbled}


@pytest.mark.parametrize("broken", ["half", "garbled"])
def test_a_damaged_entry_is_a_notification_and_the_other_entries_still_open(damaged_store, broken, caplog):
    app = RnnPanelApp(store_root=damaged_store["store"], entry=damaged_store[broken], method="pca")
    assert any("Cannot show this entry" in r.getMessage() for r in caplog.records)
    # an array the entry had is gone, or a chunk fails its checksum: marked, and another entry chosen
    assert app.entry != damaged_store[broken] and "damaged" in app.entries.notice
    if broken == "half":
        assert "its array ep is missing" in app.entries.notice
    app.entry = damaged_store["good"]
    wait_until(lambda: app.sample is not None)
    assert app.sample.n_states > 0


def test_an_entry_added_while_serving_is_offered_to_the_next_session(small_store, tmp_path):
    import shutil

    root = tmp_path / "store"
    shutil.copytree(small_store["store"], root)
    first = RnnPanelApp(store_root=root, method="pca")
    added = "a" * 20
    shutil.copytree(root / "entries" / small_store["entry"], root / "entries" / added)
    later = RnnPanelApp(store_root=root, method="pca")
    assert added not in first.param.entry.objects.values()
    assert added in later.param.entry.objects.values()


def test_an_out_of_range_sequence_is_refused_not_shown(small_store, caplog):
    app = make_app(small_store)
    app.sequence = app.sample.n_sequences + 5
    assert app.sequence == -1 and not app.shown.present
    assert any("There is no sequence" in r.getMessage() for r in caplog.records)


def test_a_link_opens_its_entry_projection_state_and_sequence_and_reports_what_it_cannot_show(
        small_store, monkeypatch, caplog):
    from rnnpanel.app import new_session
    from rnnpanel.app.new_session import create_app

    link = {"entry": small_store["entry"], "method": "pca", "layer": "0", "state": "c", "sequence": "2",
            "search": "film"}
    monkeypatch.setattr(new_session, "query_values", lambda: dict(link))     # the request's query
    app = create_app(small_store["store"])
    assert (app.entry, app.method, app.layer, app.state, app.sequence, app.search) == (
        small_store["entry"], "pca", 0, "c", 2, "film")
    assert app.sample.state == "c" and app.shown.index == 2
    assert not any("cannot show" in r.getMessage() for r in caplog.records)
    link.update(entry="no-such-entry", layer="seven", method="bogus", sequence="99999")
    app = create_app(small_store["store"], method="pca")
    assert app.entry == small_store["entry"] and app.layer == 0 and app.sequence == -1 and app.sample is not None
    refused = [r.getMessage() for r in caplog.records if "cannot show" in r.getMessage()]
    assert refused and all(f"{k}=" in refused[-1] for k in ("entry", "layer", "projection", "sequence"))


@pytest.fixture
def unprojected(small_store, tmp_path) -> tuple[StateStore, object, int]:
    """A copy of the small store without its maps: ``(store, entry, top layer)``."""
    import shutil

    root = tmp_path / "store"
    shutil.copytree(small_store["store"], root)
    shutil.rmtree(root / "entries" / small_store["entry"] / "projections", ignore_errors=True)
    store = StateStore(root)
    entry = store.entry(small_store["entry"])
    return store, entry, int(entry.attrs["layers"]) - 1


def store_older_pca_map(store: StateStore, entry, layer: int, monkeypatch) -> None:
    """A PCA map as the version of the projection before this one stored it."""
    from rnnpanel.pipeline import project

    with monkeypatch.context() as older:
        older.setattr(project, "PROJECTION_VERSION", project.PROJECTION_VERSION - 1)
        project.project_states(entry.states(layer=layer), method="pca")


def test_a_projection_not_yet_stored_is_computed_in_a_process_of_its_own(unprojected):
    from rnnpanel.pipeline.states import EntryStates

    store, entry, _ = unprojected
    app = RnnPanelApp(store_root=store.root, entry=entry.key, method="pca")   # h: computed at once
    c_states = EntryStates(store.entry(app.entry).states(layer=app.layer, kind="c"))
    assert not c_states.has_map("pca")
    messages = []
    report = app._loader._report
    app._loader._report = lambda f, m="": (messages.append(m), report(f, m))
    app.state = "c"
    wait_until(lambda: app.sample.state == "c", timeout=120)
    assert any("Starting a process" in m for m in messages)
    assert c_states.has_map("pca")


def test_a_map_stored_by_an_older_placement_is_computed_again_outside_the_server(unprojected, monkeypatch):
    """A server opening a store whose maps were made by an earlier version of the projection does
    not count them as stored, and computes the current map in a child process, not in its own."""
    from rnnpanel.app.server import warm_caches
    from rnnpanel.compute.projection.auto import AutoProjection
    from rnnpanel.pipeline.states import EntryStates

    store, entry, layer = unprojected
    states = EntryStates(store.entry(entry.key).states(layer=layer))
    store_older_pca_map(store, entry, layer, monkeypatch)
    assert store.projections(entry.key) and not states.has_map("pca")

    def in_the_server(*args, **kwargs):
        raise AssertionError("a projection was computed in the server's process")

    monkeypatch.setattr(AutoProjection, "fit", in_the_server)
    warm_caches(store.root)
    assert states.has_map("pca") and not states.has_map("tsne")    # made again, as chosen before


def test_a_store_projected_with_pca_by_an_older_placement_is_opened_with_pca_again(unprojected, monkeypatch):
    """Not a t-SNE of a whole corpus because its stored PCA map is out of date."""
    from rnnpanel.pipeline.states import EntryStates

    store, entry, layer = unprojected
    states = EntryStates(store.entry(entry.key).states(layer=layer))
    assert states.preferred_method() == "tsne"        # nothing stored
    store_older_pca_map(store, entry, layer, monkeypatch)
    assert states.preferred_method() == "pca"
    states.project(method="umap", params={"max_iter": 20})   # other params
    assert states.preferred_method("umap") == "umap"


def test_a_sessions_document_passes_bokehs_validation(small_store):
    """Served apps skip Bokeh's per-session validation (a sixth of a session's server time), so the
    document every session gets, tabs and tools included, is validated here instead."""
    from bokeh.core.validation.check import check_integrity
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    doc = Document()
    with set_curdoc(doc):
        app = RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"])
        doc.add_root(app.__panel__().get_root(doc))
        app.sequence = 3
    issues = check_integrity(doc.models)
    assert len(list(doc.models)) > 100
    assert not issues.error and not issues.warning, issues


def test_a_sessions_first_document_is_the_map_and_views_and_the_settings_follow_the_first_page(
        small_store, monkeypatch):
    """What a server sends first is what a first look and the first keys need; the sidebar's
    settings and tools and the tabs come once the browser has drawn it (pn.state.onload), so a
    server opening many sessions at once sends each page sooner."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    after_first_page = []
    monkeypatch.setattr(
        type(pn.state), "onload", lambda self, callback, threaded=False: after_first_page.append(callback)
    )
    monkeypatch.setattr(type(pn.state), "loaded", property(lambda self: False))
    doc = Document()
    with set_curdoc(doc):
        app = RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"])
        doc.add_root(app.__panel__().get_root(doc))

        def kinds() -> set[str]:
            return {type(m).__name__ for m in doc.models}

        first = kinds()
        assert {"figure", "ColumnDataSource"} <= first                     # the map and the views
        assert not first & {"RadioButtonGroup", "Slider", "TextInput", "TextAreaInput", "DataTabulator"}
        assert any("Loading the settings" in str(getattr(m, "text", "")) for m in doc.models)
        assert after_first_page
        for callback in after_first_page:
            callback()
        assert {"RadioButtonGroup", "Slider", "TextInput", "TextAreaInput", "DataTabulator"} <= kinds()
        assert not any("Loading the settings" in str(getattr(m, "text", "")) for m in doc.models)
        app.color_by = "true_class"                      # the settings drive the session as before
        assert app.map.color_by == "true_class"
