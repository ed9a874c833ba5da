"""The map behind a trajectory: how far the other states fade (the veil) and what keeps the path
prominent over them (a white halo and a dark casing under it, haloed start and end rings)."""

from __future__ import annotations

import pytest
from bokeh.models import BoxAnnotation, ColumnDataSource, Dodge

from rnnpanel.views.projection import (
    CONTEXT_FADE,
    FADED_ALPHA,
    HALO_PX,
    color_mapper,
    projection_figure,
    selection_veil,
)
from rnnpanel.views.raster import EMPTY_RASTER
from tests.views.test_sequence_views import make_sample

UNDER_THE_PATH = ("trajectory_halo", "trajectory_casing")


def _figure(raster: bool = False, veil: BoxAnnotation | None = None):
    sample = make_sample()
    sources = {name: ColumnDataSource({"x": [], "y": []}) for name in
               ("points", "states", "segments", "ends", "labels", "hover")}
    return projection_figure(sample, color_by="ep", mapper=color_mapper(sample), veil=veil,
                             raster=ColumnDataSource(dict(EMPTY_RASTER)) if raster else None, **sources), sources


def test_the_default_fade_leaves_the_context_readable():
    assert 0.3 <= CONTEXT_FADE <= 0.6 and FADED_ALPHA == pytest.approx(1 - CONTEXT_FADE)
    assert selection_veil().fill_alpha == pytest.approx(CONTEXT_FADE)
    veil = selection_veil(0.2)
    assert veil.fill_alpha == pytest.approx(0.2) and veil.fill_color == "white" and veil.visible is False


@pytest.mark.parametrize("raster", [False, True])
def test_a_map_draws_the_veil_it_is_given(raster):
    """The app keeps one veil across its maps (glyphs or image), so a control linked to it stays linked."""
    veil = selection_veil(0.3)
    fig, _ = _figure(raster, veil)
    assert [r for r in fig.renderers if isinstance(r, BoxAnnotation)] == [veil]
    other, _ = _figure(not raster, veil)
    assert [r for r in other.renderers if isinstance(r, BoxAnnotation)] == [veil]


@pytest.mark.parametrize("raster", [False, True])
def test_the_path_is_drawn_over_a_halo_and_a_casing_above_the_veil(raster):
    fig, sources = _figure(raster)
    order = [r.name for r in fig.renderers]
    by_name = {r.name: r for r in fig.renderers}
    veil, path = order.index("selection_veil"), order.index("trajectory_segments")
    assert veil < order.index("trajectory_halo") < order.index("trajectory_casing") < path
    for name in UNDER_THE_PATH:
        renderer = by_name[name]
        assert renderer.level == "overlay" and renderer.data_source is sources["segments"]
        width = renderer.glyph.line_width
        assert width["field"] == "width" and isinstance(width["transform"], Dodge)   # wider than the path
    assert by_name["trajectory_halo"].glyph.line_color == "white"
    assert by_name["trajectory_halo"].glyph.line_width["transform"].value == HALO_PX
    assert order.index("trajectory_ends_halo") < order.index("trajectory_ends")
    assert by_name["trajectory_ends_halo"].data_source is sources["ends"]
