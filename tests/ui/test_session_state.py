"""The session's state, driven the way the browser drives it (Bokeh property changes and events),
without a browser: keys, hover, clicks on a rasterised map, zoom, and the raster threshold."""

from __future__ import annotations

import html

import numpy as np
import pytest
from bokeh.events import RangesUpdate, Tap

from rnnpanel.app.session import RnnPanelApp

pytestmark = [pytest.mark.slow]   # the UI store is trained and extracted for real


def browser_event(model, event) -> None:
    """Deliver ``event`` as Bokeh's server does when the browser sends it."""
    model._trigger_event(event)


def test_arrow_keys_and_escape_arrive_through_the_key_source(ui_store):
    app = RnnPanelApp(store_root=ui_store["store"], entry=ui_store["binary"])
    keys = app._keys.source
    keys.data = {"key": ["ArrowDown"], "n": [1]}
    assert app.sequence == 0
    keys.data = {"key": ["ArrowDown"], "n": [2]}
    assert app.sequence == 1
    keys.data = {"key": ["ArrowUp"], "n": [3]}
    assert app.sequence == 0
    keys.data = {"key": ["Escape"], "n": [4]}
    assert app.sequence == -1


def test_the_hovered_step_reaches_the_session_after_the_browser_drew_it(ui_store):
    app = RnnPanelApp(store_root=ui_store["store"], entry=ui_store["binary"])
    app.sequence = 2
    assert app.hover_step == -1
    app.hover.data = {"x": [0.0], "y": [0.0], "t": [3], "wx": [0.0], "wy": [0.0], "ww": [1.0]}
    assert app.hover_step == 3
    app.hover.data = {k: [] for k in app.hover.data}
    assert app.hover_step == -1


def test_a_rasterised_map_selects_by_geometry_and_rerasterises_on_zoom(ui_store):
    app = RnnPanelApp(store_root=ui_store["store"], entry=ui_store["binary"], raster_above=0)
    fig, sample = app._projection_fig, app.sample
    assert len(app.points.data["x"]) == 0 and len(app.raster.data["image"]) == 1
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
    before = app.raster.data["image"][0]
    x0, x1 = fig.x_range.start, fig.x_range.end
    y0, y1 = fig.y_range.start, fig.y_range.end
    browser_event(fig, RangesUpdate(fig, x0=x0, x1=(x0 + x1) / 2, y0=y0, y1=(y0 + y1) / 2))
    assert app.raster.data["x"] == [x0] and app.raster.data["dw"] == [pytest.approx((x1 - x0) / 2)]
    assert not np.array_equal(app.raster.data["image"][0], before)


def test_small_samples_are_drawn_as_glyphs_below_the_threshold(ui_store):
    app = RnnPanelApp(store_root=ui_store["store"], entry=ui_store["binary"])
    assert app.sample.n_states <= app.raster_above
    assert len(app.points.data["x"]) == app.sample.n_states and len(app.raster.data["image"]) == 0


def test_live_input_draws_the_typed_text_in_every_per_sequence_view(ui_store):
    app = RnnPanelApp(store_root=ui_store["store"], entry=ui_store["binary"])
    app.sequence = 2
    app.live_text = "a truly great and moving film , though the plot is far too long"
    words = list(app.states.data["word"])
    assert 0 < len(words) <= 14 and set(words) <= set(app.live_text.split())
    assert app.sequence == -1 and "Live input" in app._header.object
    assert len(app.bars.data["t"]) == len(words) - 1
    assert len(app.cells.data["t"]) == (app.sample.n_classes + 1) * len(words)
    from rnnpanel.app.session import TABS

    app._tabs.active = TABS.index("Units")                      # the unit view reads the live states
    assert app._details._units_src.data["image"][0].shape[1] == len(words)
    app._tabs.active = TABS.index("Neighbours")
    assert "of the live input" in app._details._neighbour_title.object
    assert len(app._details._neighbour_table.value) == 10
    app._tabs.active = 0
    app.sequence = 3                                            # a selected sequence replaces it
    assert len(app.states.data["word"]) == app.sample.offsets[4] - app.sample.offsets[3]
    app.live_text = "zebra quokka"                              # no known word: a notice, nothing lost
    assert app.sequence == 3 and len(app.states.data["word"]) == app.sample.offsets[4] - app.sample.offsets[3]
    app.live_text = "great film"
    app._keys.source.data = {"key": ["Escape"], "n": [1]}
    assert len(app.states.data["word"]) == 0 and app._live is None


def test_word_search_rings_every_matching_state_and_export_writes_what_is_shown(ui_store):
    import pandas as pd

    app = RnnPanelApp(store_root=ui_store["store"], entry=ui_store["binary"])
    words = np.char.lower(app.sample.words.astype(str))
    app.search = "the, film*"
    expected = (words == "the") | np.char.startswith(words, "film")
    assert expected.any()
    np.testing.assert_array_equal(app.found.data["x"], app.sample.xy[expected, 0])
    assert f"{int(expected.sum())} states" in app._search_status.object
    states = pd.read_parquet(app._export_states())
    assert len(states) == expected.sum() and set(np.char.lower(states["word"].to_numpy().astype(str))) <= (
        {"the"} | {w for w in words if w.startswith("film")})
    app.search = ""
    assert len(app.found.data["x"]) == 0 and len(pd.read_parquet(app._export_states())) == app.sample.n_states
    app.sequence = 5
    frame = pd.read_csv(app._export_sequence())
    rows = app.sample.sequence_slice(5)
    assert list(frame["word"].astype(str)) == [str(w) for w in app.sample.words[rows]]
    app.search = "zzzz-no-such-word"
    assert "no state" in app._search_status.object


def test_units_and_neighbours_tabs_follow_the_shown_sequence_and_hovered_word(ui_store):
    from rnnpanel.app.session import TABS
    from rnnpanel.store import StateStore

    app = RnnPanelApp(store_root=ui_store["store"], entry=ui_store["binary"])
    states = StateStore(ui_store["store"]).open_entry(ui_store["binary"]).states(-1, "h")
    app._tabs.active = TABS.index("Units")
    app.sequence = 4
    rows = app.sample.sequence_slice(4)
    image = app._details._units_src.data["image"][0]
    assert image.shape == (states.shape[1], rows.stop - rows.start)
    assert sorted(image[:, 0].tolist()) == pytest.approx(sorted(states[rows.start].tolist()))
    app._tabs.active = TABS.index("Neighbours")
    table = app._details._neighbour_table.value
    assert len(table) == 10 and list(table["distance"]) == sorted(table["distance"])
    last = rows.stop - 1                                       # by default: the state that predicts
    brute = np.sqrt(((states - states[last]) ** 2).sum(1))
    brute[last] = np.inf
    assert table["distance"].iloc[0] == pytest.approx(brute.min(), abs=1e-3)
    app.hover.data = {"x": [0.0], "y": [0.0], "t": [1], "wx": [0.0], "wy": [0.0], "ww": [1.0]}
    word = html.escape(str(app.sample.words[rows.start + 1]))
    assert f"<b>{word}</b> (t = 1" in app._details._neighbour_title.object
    row = int(app._details._neighbour_table.value["row"].iloc[3])
    app._details._neighbour_table.selection = [3]             # a neighbour's row selects its sequence
    assert app.sequence == row


def test_a_region_drawn_on_the_map_filters_the_table_and_lists_its_words(ui_store):
    from bokeh.events import SelectionGeometry

    app = RnnPanelApp(store_root=ui_store["store"], entry=ui_store["binary"], raster_above=0)
    fig, xy = app._projection_fig, app.sample.xy
    x0, x1 = np.percentile(xy[:, 0], [20, 60])
    y0, y1 = np.percentile(xy[:, 1], [20, 60])
    browser_event(fig, SelectionGeometry(fig, geometry={"type": "rect", "x0": x0, "x1": x1, "y0": y0, "y1": y1},
                                         final=True))
    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    assert inside.any() and np.array_equal(app._region, inside)
    ids = set(app.sample.sequence_ids[np.unique(app.sample.sequence_of_state[inside])].tolist())
    assert set(app._table.current_view["id"]) == ids
    words = app._region_panel._words.value
    assert len(words) > 0 and set(words["word"]) <= set(app.sample.words[inside].astype(str))
    assert app.region_src.data["xs"] == [[x0, x1, x1, x0]]
    lasso = {"type": "poly", "x": [x0, x1, x0], "y": [y0, y0, y1]}
    browser_event(fig, SelectionGeometry(fig, geometry=lasso, final=True))
    assert 0 < app._region.sum() < inside.sum()
    app._set_region(None, None)                                 # the Clear button
    assert len(app._table.current_view) == app.sample.n_sequences and not app._region_outline.visible
