"""The map of a large sample, drawn as an image: clicks resolved by geometry, zoom re-rasterises,
colouring recolours. The same UI store is served with the raster threshold at 0 states."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.store import StateStore
from tests.ui.conftest import open_page, running_app, screenshot, wait_until
from tests.ui.test_app_browser import COLUMN, SOURCE, count

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGE = """() => { const r = Bokeh.documents[0].get_model_by_name('raster_src');
  if (!(r && r.data.image.length)) { return null; }
  const hash = Array.from(r.data.image[0]).reduce((a, b) => (a * 31 + b) % 1000003, 0);
  return [r.data.x[0], r.data.dw[0], hash]; }"""
TO_SCREEN = """([x, y]) => { const d = Bokeh.documents[0];
  const fig = d.get_model_by_name('projection'), r = d.get_model_by_name('points_raster');
  const v = d.views_manager.find_one(fig); const rv = [...v.all_renderer_views].find(q => q.model === r);
  const rect = v.canvas_view.el.getBoundingClientRect();
  return [rect.left + rv.coordinates.x_scale.compute(x), rect.top + rv.coordinates.y_scale.compute(y)]; }"""


@pytest.fixture(scope="module")
def raster_url(ui_store):
    yield from running_app(ui_store["store"], raster_above=0)


@pytest.fixture
def raster_page(browser, raster_url):
    yield from open_page(browser, raster_url, "points_raster")


def test_map_is_an_image_and_a_click_selects_the_nearest_states_sequence(raster_page, ui_store):
    page = raster_page
    wait_until(lambda: page.evaluate(IMAGE))
    assert count(page, "points") == -1                        # no glyph per state
    entry = StateStore(ui_store["store"]).entry(ui_store["binary"])
    offsets = entry.load("offsets")
    xy = _entry_xy(ui_store, entry)
    i = int(offsets[5]) + 1                                    # a state of the sixth sequence
    x, y = page.evaluate(TO_SCREEN, [float(xy[i, 0]), float(xy[i, 1])])
    page.mouse.click(x, y)
    wait_until(lambda: count(page, "trajectory_states") > 0)
    n = count(page, "trajectory_states")
    states_x = page.evaluate(COLUMN, ["trajectory_states", "x"])
    states_y = page.evaluate(COLUMN, ["trajectory_states", "y"])
    # the nearest state to the click belongs to the selected sequence, drawn in full
    screen = [page.evaluate(TO_SCREEN, [a, b]) for a, b in zip(states_x, states_y)]
    assert min(((px - x) ** 2 + (py - y) ** 2) ** 0.5 for px, py in screen) < 4.0
    assert n in set(int(b - a) for a, b in zip(offsets[:-1], offsets[1:]))
    assert count(page, "text_words") == n
    screenshot(page, "ui-raster")
    page.keyboard.press("Escape")
    wait_until(lambda: count(page, "trajectory_states") == 0)


def _entry_xy(ui_store, entry) -> np.ndarray:
    from rnnpanel.pipeline.states import EntryStates

    return EntryStates(StateStore(ui_store["store"]).entry(entry.key).states()).sample().xy


def test_zooming_rerasterises_the_visible_ranges(raster_page):
    page = raster_page
    before = wait_until(lambda: page.evaluate(IMAGE))
    box = page.evaluate("""() => { const d = Bokeh.documents[0];
      const v = d.views_manager.find_one(d.get_model_by_name('projection'));
      const r = v.canvas_view.el.getBoundingClientRect(); return [r.left + r.width / 3, r.top + r.height / 2]; }""")
    page.mouse.move(*box)
    page.mouse.wheel(0, -400)
    after = wait_until(lambda: (lambda im: im if im and im[1] < before[1] * 0.95 else None)(page.evaluate(IMAGE)))
    assert after[2] != before[2]                              # a new image, drawn for the narrower range


def test_colouring_by_true_class_recolours_the_image(raster_page):
    page = raster_page
    before = wait_until(lambda: page.evaluate(IMAGE))
    page.get_by_text("true class", exact=True).click()
    wait_until(lambda: page.evaluate(IMAGE)[2] != before[2])
    assert page.evaluate(SOURCE, ["hover_state", "t"]) == []
    assert page.page_errors == []
