"""The map's fade control and the layout's sizes, without a browser, on the small real store: the
fade is one property of a veil kept across maps (glyphs and image), the sidebar offers it, a
rasterised map follows ranges the browser widens, and the text view shows the lines it has room for."""

from __future__ import annotations

from types import SimpleNamespace

import panel as pn
import pytest
from panel.links import Callback

from rnnpanel.app.sequence_views import lines_shown
from rnnpanel.app.sidebar_settings import sidebar_settings
from rnnpanel.views.projection import CONTEXT_FADE
from rnnpanel.views.sequence import LINE_HEIGHT
from rnnpanel.views.text import LINE_PIXELS
from tests.ui.test_session_state import make_app


@pytest.mark.parametrize("raster_above", [0, 10**9])
def test_the_fade_is_one_property_of_the_veil_and_leaves_the_points_alone(small_store, raster_above):
    app = make_app(small_store, raster_above=raster_above)
    veil, fig = app.map._veil, app.map.figure
    assert veil in fig.renderers and veil.fill_alpha == pytest.approx(CONTEXT_FADE)
    points, image = app.map.points.data["x"], app.map.raster.data["image"]
    app.sequence = 3
    app.map.context_fade = 0.25
    assert veil.visible and veil.fill_alpha == pytest.approx(0.25)
    assert app.map.points.data["x"] is points and app.map.raster.data["image"] is image   # nothing redrawn
    app.map.param.trigger("sample")                 # a new map (another entry or projection): the same veil
    assert app.map.figure is not fig and veil in app.map.figure.renderers
    assert veil.fill_alpha == pytest.approx(0.25)


def test_the_sidebar_slider_sets_the_fade_and_is_linked_to_the_veil_in_the_browser(small_store):
    app = make_app(small_store)
    sliders = [w for w in sidebar_settings(app) if isinstance(w, pn.widgets.FloatSlider)
               and w.name.startswith("Fade the map")]
    assert len(sliders) == 1
    slider = sliders[0]
    assert slider.value == pytest.approx(app.map.context_fade)
    links = [link for link in Callback.registry.get(slider, []) if getattr(link, "target", None) is app.map._veil]
    assert [link.properties for link in links] == [{"value": "fill_alpha"}]
    slider.value = 0.7
    assert app.map.context_fade == pytest.approx(0.7) and app.map._veil.fill_alpha == pytest.approx(0.7)


def test_a_rasterised_map_follows_ranges_the_browser_widens(small_store):
    """The browser widens the ranges to keep the map's aspect once it knows the frame's size,
    without a ranges event: the image is drawn again for them, not stretched to them."""
    app = make_app(small_store, raster_above=0)
    fig, raster = app.map.figure, app.map.raster
    y0, y1 = fig.y_range.start, fig.y_range.end
    assert raster.data["dh"] == [pytest.approx(y1 - y0)]
    fig.y_range.update(start=y0 - (y1 - y0) / 2, end=y1 + (y1 - y0) / 2)
    assert raster.data["y"] == [pytest.approx(y0 - (y1 - y0) / 2)]
    assert raster.data["dh"] == [pytest.approx(2 * (y1 - y0))]


def test_the_text_view_shows_the_lines_its_height_has_room_for():
    assert lines_shown(SimpleNamespace(inner_height=10 * LINE_PIXELS), 3) == pytest.approx(10)
    assert lines_shown(SimpleNamespace(inner_height=0), 3) == 3        # not drawn yet


def test_until_the_browser_reports_its_height_the_text_view_shows_the_lines_it_was_made_for(small_store):
    app = make_app(small_store)
    text, views = app.views._text_fig, app.views
    assert text.sizing_mode == "stretch_height" and text.min_height <= text.max_height
    app.sequence = 2
    assert text.y_range.end - text.y_range.start == pytest.approx(views._text_lines * LINE_HEIGHT)
