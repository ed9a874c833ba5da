"""Unit view ordering and image layout; the neighbour table's context and columns."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.views.neighbors import context_of, neighbor_frame
from rnnpanel.views.units import unit_columns, unit_order
from tests.views.test_sequence_views import make_sample


def test_units_sort_by_variance_or_by_correlation_with_ep():
    t = np.linspace(0, 1, 6)
    values = np.stack([np.full(6, 0.3), 0.1 * t, -2 * t + 0.5 * np.sin(9 * t), 0.9 * np.cos(20 * t)], axis=1)
    assert list(unit_order(values, t, "variance")) == [2, 3, 1, 0]
    by_corr = unit_order(values, t, "correlation")
    assert by_corr[0] == 1 and by_corr[-1] == 0      # perfectly correlated first, constant last
    with pytest.raises(ValueError, match="variance, correlation"):
        unit_order(values, t, "size")


def test_the_image_puts_the_first_unit_on_top_and_time_along_x():
    values = np.array([[0.0, 5.0], [0.0, -5.0], [1.0, 5.0]], dtype=np.float32)   # T=3, D=2; unit 1 varies most
    data = unit_columns(values, np.zeros(3), "variance")
    image = data["image"][0]
    assert image.shape == (2, 3) and data["dw"] == [3] and data["dh"] == [2]
    np.testing.assert_array_equal(image[-1], values[:, 1])      # top row (drawn last): unit 1
    np.testing.assert_array_equal(image[0], values[:, 0])


def test_neighbor_rows_name_sequence_step_and_words_in_context():
    sample = make_sample(2, lengths=(5, 3, 7))
    frame = neighbor_frame(sample, np.array([9, 2]), np.array([0.5, 1.25]))
    assert list(frame["sequence"]) == [int(sample.sequence_ids[2]), int(sample.sequence_ids[0])]
    assert list(frame["t"]) == [1, 2] and list(frame["row"]) == [2, 0]
    assert frame["words"].iloc[0] == "w8 [w9]" and frame["words"].iloc[1] == "w0 w1 [w2]"
    assert context_of(sample, 14, before=2) == "… w12 w13 [w14]"
    assert list(frame["distance"]) == [0.5, 1.25]
