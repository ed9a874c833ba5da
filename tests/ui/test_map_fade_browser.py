"""The map behind a trajectory and the page's use of a window, in a real browser: the sidebar's fade
slider sets the veil's opacity in the browser itself (nothing is recomputed or sent for the points,
glyphs or image), and a large window is filled by the map and the sequence views."""

from __future__ import annotations

import pytest

from rnnpanel.app.fragility import ROW_HEIGHT as FRAGILITY_ROW
from tests.ui.conftest import open_page, running_app, screenshot, wait_until
from tests.ui.test_app_browser import FIND, select_first_row

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FADE_TITLE = "Fade the map behind a trajectory"
VEIL = "() => { " + FIND + " const v = find('selection_veil'); return [v.visible, v.fill_alpha]; }"
#: Count every change the browser makes to the points' source (glyphs) or image (rasterised map).
WATCH_POINTS = "() => { " + FIND + """
  window.__pointChanges = 0;
  for (const name of ['points_src', 'raster_src']) {
    const src = find(name); if (!src) continue;
    const count = () => { window.__pointChanges += 1; };
    src.connect(src.properties.data.change, count);
    src.connect(src.streaming, count); src.connect(src.patching, count);
  } }"""
#: Move the fade slider as a drag does (its Bokeh model's value) and read the veil before the page
#: handles any other task (BokehJS runs a link's code in a microtask): no message can have come back
#: from the server in between.
SLIDE = "async (value) => { " + FIND + """
  const slider = [...Bokeh.documents[0]._all_models.values()].filter(m => m.title === '""" + FADE_TITLE + """').pop();
  const veil = find('selection_veil');
  slider.value = value;
  for (let i = 0; i < 100 && veil.fill_alpha !== value; i++) await Promise.resolve();
  return veil.fill_alpha; }"""
BOXES = "() => { " + FIND + """
  const box = (name) => { const r = Bokeh.documents[0].views_manager.find_one(find(name)).el.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const out = {}; for (const name of ['projection', 'text_view', 'heatmap', 'distances']) out[name] = box(name);
  const table = (function deep(root) { const t = root.querySelector('.tabulator'); if (t) return t;
    for (const e of root.querySelectorAll('*')) if (e.shadowRoot) { const f = deep(e.shadowRoot); if (f) return f; }
    return null; })(document);
  const t = table.getBoundingClientRect(); out.table = {top: t.top, bottom: t.bottom};
  out.page = {width: document.scrollingElement.scrollWidth, height: document.scrollingElement.scrollHeight};
  return out; }"""


@pytest.fixture(scope="module")
def raster_url(ui_store):
    yield from running_app(ui_store["store"], raster_above=0)


@pytest.fixture(params=["points", "points_raster"])
def map_page(request, browser):
    """A page of the map drawn as glyphs, then as one image (the same store, threshold 0)."""
    url = request.getfixturevalue("server" if request.param == "points" else "raster_url")
    yield from open_page(browser, url, request.param)


def test_the_fade_slider_sets_the_veil_in_the_browser_without_touching_the_points(map_page):
    page = map_page
    select_first_row(page)
    visible, alpha = wait_until(lambda: (lambda v: v if v[0] else None)(page.evaluate(VEIL)))
    assert 0.3 <= alpha <= 0.6                               # the default leaves the classes readable
    wait_until(lambda: page.evaluate("(t) => [...Bokeh.documents[0]._all_models.values()]"
                                     ".some(m => m.title === t)", FADE_TITLE), timeout=30)   # the settings arrived
    page.wait_for_timeout(500)                               # a pending image of the new view, if any
    page.evaluate(WATCH_POINTS)
    assert page.evaluate(SLIDE, 0.2) == pytest.approx(0.2)   # set in the same task: no round trip
    page.wait_for_timeout(300)
    assert page.evaluate(SLIDE, 0.9) == pytest.approx(0.9)
    page.wait_for_timeout(1000)                              # what the server answers, if anything
    assert page.evaluate(VEIL) == [True, pytest.approx(0.9)]
    assert page.evaluate("() => window.__pointChanges") == 0
    page.evaluate(SLIDE, 0.5)
    page.wait_for_timeout(300)
    screenshot(page, "ui-fade-" + ("raster" if _rasterised(page) else "glyphs"))
    page.keyboard.press("Escape")
    wait_until(lambda: page.evaluate(VEIL)[0] is False)
    assert page.page_errors == []


@pytest.mark.parametrize("viewport", [{"width": 2200, "height": 1300}, {"width": 1400, "height": 900},
                                      {"width": 1280, "height": 800}], ids=lambda v: f"{v['width']}x{v['height']}")
def test_the_map_and_the_sequence_views_fill_the_window(browser, server, viewport):
    gen = open_page(browser, server, "points", viewport)
    page = next(gen)
    try:
        select_first_row(page)
        page.wait_for_timeout(500)
        boxes = page.evaluate(BOXES)
        width, height = viewport["width"], viewport["height"]
        proj, dist, table = boxes["projection"], boxes["distances"], boxes["table"]
        assert boxes["page"]["width"] <= width + 1                      # no sideways scrolling
        assert proj["bottom"] - proj["top"] >= 600                      # never smaller than before
        assert abs(dist["bottom"] - proj["bottom"]) <= 12               # the views fill the map's height
        # the tabs follow at once; the table under them after the fragile column's one-line controls
        assert table["top"] - proj["bottom"] <= 60 + FRAGILITY_ROW
        if height >= 1200:
            assert proj["bottom"] - proj["top"] >= 0.6 * height         # the map grew with the window
            assert table["bottom"] >= 0.9 * height                      # nothing empty below
            assert boxes["page"]["height"] <= height + 1                # and nothing to scroll
        screenshot(page, f"ui-layout-{width}x{height}")
        assert page.page_errors == []
    finally:
        next(gen, None)                                                 # closes the page


def _rasterised(page) -> bool:
    return page.evaluate("() => Bokeh.documents[0].get_model_by_name('points_raster') !== null")
