"""The rasterised map: where each state lands, which colour a pixel gets, and clicks by geometry."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.views.raster import (
    FADED_OPACITY,
    OPACITY,
    RING_CELL_PX,
    SPREAD_PX,
    nearest_state,
    one_per_cell,
    raster_columns,
)
from rnnpanel.views.sequence import FADED_POINT_ALPHA, POINT_ALPHA

RED, GREY, BLUE = "#ff0000", "#808080", "#0000ff"
BINARY = ([RED, GREY, BLUE], 0.0, 1.0)                     # a diverging scale over P(positive)
CLASSES = ([RED, BLUE, "#00ff00"], -0.5, 2.5)              # three categorical colours


def points(xy, c, faded=()):
    xy = np.asarray(xy, dtype=np.float32)
    a = np.full(len(xy), POINT_ALPHA, dtype=np.float32)
    a[list(faded)] = FADED_POINT_ALPHA
    return {"x": xy[:, 0], "y": xy[:, 1], "c": np.asarray(c, dtype=np.float32), "a": a}


def rgba(data, width=10, height=10) -> np.ndarray:
    image = data["image"][0]
    assert image.dtype == np.uint32 and image.shape == (height, width)
    return image.view(np.uint8).reshape(height, width, 4)


def test_a_state_covers_a_small_square_at_its_place_and_nothing_else():
    img = rgba(raster_columns(points([[0.25, 0.85]], [1.0]), *BINARY, x_range=(0, 1), y_range=(0, 1),
                              width=10, height=10))
    covered = np.argwhere(img[..., 3] > 0)
    side = 2 * SPREAD_PX + 1
    assert len(covered) == side * side
    # row 0 is the bottom (Bokeh draws images from their lower-left corner): y = 0.85 → row 8
    assert set(covered[:, 0]) == set(range(8 - SPREAD_PX, 8 + SPREAD_PX + 1))
    assert set(covered[:, 1]) == set(range(2 - SPREAD_PX, 2 + SPREAD_PX + 1))
    assert tuple(img[8, 2]) == (0, 0, 255, round(255 * OPACITY))


def test_binary_pixels_show_the_mean_probability_on_the_diverging_scale():
    data = raster_columns(points([[0.5, 0.5], [0.5, 0.5], [0.1, 0.1]], [0.0, 1.0, 0.0]), *BINARY,
                          x_range=(0, 1), y_range=(0, 1), width=10, height=10)
    img = rgba(data)
    assert tuple(img[5, 5, :3]) == (128, 128, 128)            # mean 0.5: the middle of the scale
    assert tuple(img[1, 1, :3]) == (255, 0, 0)
    assert data["x"] == [0.0] and data["y"] == [0.0] and data["dw"] == [1.0] and data["dh"] == [1.0]


def test_classes_mix_by_count_and_faded_states_lie_faintly_underneath():
    pts = points([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.1, 0.1], [0.1, 0.1]], [0, 0, 1, 2, 0], faded=[3])
    img = rgba(raster_columns(pts, *CLASSES, x_range=(0, 1), y_range=(0, 1), width=10, height=10))
    assert tuple(img[5, 5, :3]) == (170, 0, 85)               # two red, one blue
    assert img[1, 1, 3] == round(255 * OPACITY) and tuple(img[1, 1, :3]) == (255, 0, 0)  # red over faded green
    only_faded = rgba(raster_columns(points([[0.1, 0.1]], [2], faded=[0]), *CLASSES, x_range=(0, 1),
                                     y_range=(0, 1), width=10, height=10))
    assert tuple(only_faded[1, 1]) == (0, 255, 0, round(255 * FADED_OPACITY))


def test_states_outside_the_visible_ranges_are_left_out():
    img = rgba(raster_columns(points([[5.0, 5.0], [-1.0, 0.5]], [1.0, 0.0]), *BINARY, x_range=(0, 1),
                              y_range=(0, 1), width=10, height=10))
    assert not img[..., 3].any()


def test_a_zoomed_range_spreads_the_same_states_over_more_pixels():
    pts = points([[0.40, 0.40], [0.45, 0.45]], [0.0, 1.0])
    wide = rgba(raster_columns(pts, *BINARY, x_range=(0, 1), y_range=(0, 1), width=10, height=10))
    zoomed = rgba(raster_columns(pts, *BINARY, x_range=(0.35, 0.5), y_range=(0.35, 0.5), width=10, height=10))
    assert (zoomed[..., 3] > 0).sum() > (wide[..., 3] > 0).sum()


def test_a_click_selects_the_nearest_state_within_the_radius_only():
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [1.05, 1.0]], dtype=np.float32)
    assert nearest_state(xy, 1.04, 1.0, 0.1) == 2
    assert nearest_state(xy, 0.02, 0.01, 0.1) == 0
    assert nearest_state(xy, 0.5, 0.5, 0.1) == -1
    assert nearest_state(np.zeros((0, 2), np.float32), 0.0, 0.0, 1.0) == -1


@pytest.mark.parametrize("width,height", [(1, 1), (640, 480)])
def test_any_frame_size_gives_an_image_of_that_size(width, height):
    data = raster_columns(points([[0.5, 0.5]], [0.5]), *BINARY, x_range=(0, 1), y_range=(0, 1),
                          width=width, height=height)
    assert data["image"][0].shape == (height, width)


def _pixels(xy, x_range, y_range, width, height):
    return np.stack([(xy[:, 0] - x_range[0]) / (x_range[1] - x_range[0]) * width,
                     (xy[:, 1] - y_range[0]) / (y_range[1] - y_range[0]) * height], axis=1)


def _visible(xy, x_range, y_range):
    return ((xy[:, 0] >= x_range[0]) & (xy[:, 0] < x_range[1]) & (xy[:, 1] >= y_range[0]) & (xy[:, 1] < y_range[1]))


def test_search_rings_are_one_per_cell_of_the_view_and_zooming_in_parts_them():
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(0.0, 1.0, (6000, 2)), rng.normal(0.5, 0.05, (2000, 2))]).astype(np.float32)
    found = rng.random(len(xy)) < 0.4
    x_range, y_range, width, height = (-2.0, 2.0), (-1.5, 2.5), 200, 200
    rows = one_per_cell(xy, found, x_range=x_range, y_range=y_range, width=width, height=height)
    assert found[rows].all() and np.array_equal(rows, np.unique(rows))
    assert _visible(xy[rows], x_range, y_range).all()           # nothing outside the view is ringed
    shown = np.flatnonzero(found & _visible(xy, x_range, y_range))
    assert len(rows) < len(shown)                              # the dense cluster is thinned
    # every found state in view lies in the cell of a ringed one: within a cell's diagonal on screen
    a, b = _pixels(xy[shown], x_range, y_range, width, height), _pixels(xy[rows], x_range, y_range, width, height)
    nearest = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min(1)
    assert nearest.max() <= RING_CELL_PX * np.sqrt(2)
    # the same rows given as indices
    assert np.array_equal(one_per_cell(xy, np.flatnonzero(found), x_range=x_range, y_range=y_range,
                                       width=width, height=height), rows)
    # zoomed into the cluster: more rings there than the whole view had
    zx, zy = (0.4, 0.6), (0.4, 0.6)
    zoomed = one_per_cell(xy, found, x_range=zx, y_range=zy, width=width, height=height)
    assert len(zoomed) > _visible(xy[rows], zx, zy).sum() and _visible(xy[zoomed], zx, zy).all()


def test_search_rings_are_capped_by_growing_the_cells():
    rng = np.random.default_rng(1)
    xy = rng.random((50_000, 2)).astype(np.float32)
    found = np.ones(len(xy), dtype=bool)
    kw = dict(x_range=(0, 1), y_range=(0, 1), width=800, height=800)
    assert len(one_per_cell(xy, found, **kw)) > 20_000
    capped = one_per_cell(xy, found, limit=5_000, **kw)
    assert 2_000 < len(capped) <= 5_000
    assert len(one_per_cell(xy, np.zeros(len(xy), bool), **kw)) == 0
    assert len(one_per_cell(xy, found, limit=1, **kw)) == 1
