"""The projection's paint layers: what a selection or a hover changes must not repaint every point.

Bokeh repaints only its overlay canvas when every changed renderer sits on the ``overlay`` level;
the layer with all the points (50,000 in the demo) is repainted only when the points change.
"""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.models import BoxAnnotation, ColumnDataSource, LabelSet, Range1d

from rnnpanel.views.projection import FADED_ALPHA, color_mapper, projection_figure
from rnnpanel.views.raster import EMPTY_RASTER
from tests.views.test_sequence_views import make_sample

PER_SELECTION = {"trajectory_segments", "trajectory_states", "trajectory_ends", "projection_hover"}


def _figure(n_classes: int = 2, raster: bool = False):
    sample = make_sample(n_classes)
    sources = {name: ColumnDataSource({"x": [], "y": []}) for name in
               ("points", "states", "segments", "ends", "labels", "hover")}
    fig = projection_figure(sample, color_by="ep", mapper=color_mapper(sample),
                            raster=ColumnDataSource(dict(EMPTY_RASTER)) if raster else None, **sources)
    scatter = next(r for r in fig.renderers if r.name == ("points_raster" if raster else "points"))
    return sample, fig, scatter


@pytest.mark.parametrize("raster", [False, True])
@pytest.mark.parametrize("n_classes", [2, 8])
def test_selection_and_hover_glyphs_are_overlays_and_the_points_are_not(n_classes, raster):
    _, fig, scatter = _figure(n_classes, raster)
    by_name = {r.name: r for r in fig.renderers}
    assert PER_SELECTION <= set(by_name)
    assert all(by_name[name].level == "overlay" for name in PER_SELECTION)
    labels = [r for r in fig.center if isinstance(r, LabelSet)]
    assert len(labels) == 1 and labels[0].level == "overlay"
    assert scatter.level == "glyph"


def test_a_rasterised_map_has_one_image_and_no_glyph_per_state():
    _, fig, image = _figure(raster=True)
    names = [r.name for r in fig.renderers]
    assert "points" not in names and names.count("points_raster") == 1
    assert type(image.glyph).__name__ == "ImageRGBA"
    assert not [t for t in fig.tools if type(t).__name__ == "TapTool"]   # clicks resolved by geometry


@pytest.mark.parametrize("raster", [False, True])
def test_selection_fades_points_with_a_veil_drawn_between_points_and_trajectory(raster):
    _, fig, scatter = _figure(raster=raster)
    veils = [r for r in fig.renderers if isinstance(r, BoxAnnotation)]
    assert len(veils) == 1
    veil = veils[0]
    assert veil.level == "overlay" and veil.visible is False
    assert veil.fill_color == "white" and veil.fill_alpha == pytest.approx(1 - FADED_ALPHA)
    order = [r.name for r in fig.renderers]
    assert order.index("selection_veil") < min(order.index(name) for name in PER_SELECTION)
    assert order.index(scatter.name) < order.index("selection_veil")


def test_ranges_are_fixed_around_every_point():
    sample, fig, _ = _figure()
    for rng, column in ((fig.x_range, 0), (fig.y_range, 1)):
        assert isinstance(rng, Range1d)
        assert rng.start < np.min(sample.xy[:, column]) and rng.end > np.max(sample.xy[:, column])
