"""Region selection by geometry: boxes, lassos, and the words over-represented inside."""

from __future__ import annotations

import numpy as np

from rnnpanel.views.region import overrepresented_words, region_outline, states_in_polygon, states_in_rect

XY = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.5, 1.5], [3.0, 0.2]], dtype=np.float32)


def test_a_box_takes_the_states_inside_whatever_corner_it_starts_from():
    assert list(np.flatnonzero(states_in_rect(XY, 2.5, -0.5, 1.2, -1.0))) == [0, 1]


def test_a_lasso_polygon_takes_the_states_inside_only():
    triangle = ([-1.0, 4.0, -1.0], [-1.0, -1.0, 4.0])           # x + y < 3
    assert list(np.flatnonzero(states_in_polygon(XY, *triangle))) == [0, 1, 3]
    concave = ([-1, 4, 4, 1.5, 1.5, -1], [-1, -1, 0.5, 0.5, 3, 3])  # an L shape missing the (2, 2) corner
    assert list(np.flatnonzero(states_in_polygon(XY, *concave))) == [0, 1, 3, 4]
    assert not states_in_polygon(XY, [0, 1], [0, 1]).any()


def test_overrepresented_words_rank_by_share_inside_against_overall():
    words = np.array(["good"] * 10 + ["bad"] * 10 + ["film"] * 20)
    mask = np.zeros(40, dtype=bool)
    mask[:8] = True            # 8 × good
    mask[10:12] = True         # 2 × bad
    mask[20:26] = True         # 6 × film
    frame = overrepresented_words(words, mask, top=3)
    assert list(frame["word"]) == ["good", "film", "bad"]
    assert list(frame["in region"]) == [8, 6, 2] and list(frame["overall"]) == [10, 20, 10]
    assert frame["ratio"].iloc[0] > 1 > frame["ratio"].iloc[2]
    assert overrepresented_words(words, np.zeros(40, dtype=bool)).empty


def test_the_select_tools_geometry_becomes_a_polygon():
    rect = region_outline({"type": "rect", "x0": 0, "x1": 2, "y0": 1, "y1": 3})
    assert rect == ([0.0, 2.0, 2.0, 0.0], [1.0, 1.0, 3.0, 3.0])
    assert region_outline({"type": "poly", "x": [0, 1, 0], "y": [0, 0, 1]}) == ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    assert region_outline({"type": "poly", "x": [0, 1], "y": [0, 0]}) is None     # not yet a region
    assert region_outline({"type": "point", "x": 0, "y": 0}) is None
