"""The unit view (docs/design.md, Tools beyond the paper; LSTMVis-style): every unit of the shown sequence's
state over time, one row per unit, sorted so the telling units come first."""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, LinearColorMapper, Range1d
from bokeh.plotting import figure

from rnnpanel.views.colors import unit_palette

SORTS = ("variance", "correlation")
UNIT_HEIGHT = 4          # pixels per unit row
EMPTY_UNITS = {"image": [], "x": [], "y": [], "dw": [], "dh": []}


def unit_order(values: np.ndarray, target: np.ndarray, by: str) -> np.ndarray:
    """Units (columns of ``values`` (T, D)) by decreasing variance over time, or by decreasing
    absolute correlation with ``target`` (T,), the EP of the predicted class; ties keep unit order."""
    if by not in SORTS:
        raise ValueError(f"sort units by one of {', '.join(SORTS)}, got {by!r}")
    values = np.asarray(values, dtype=np.float64)
    if by == "variance" or len(values) < 2:
        score = values.var(axis=0)
    else:
        centred, t = values - values.mean(axis=0), np.asarray(target, dtype=np.float64) - np.mean(target)
        denom = np.sqrt((centred ** 2).sum(axis=0) * (t ** 2).sum())
        score = np.abs(np.divide(centred.T @ t, denom, out=np.zeros(values.shape[1]), where=denom > 0))
    return np.argsort(-score, kind="stable")


def unit_columns(values: np.ndarray, target: np.ndarray, by: str) -> dict[str, list]:
    """An image source's data: row ``r`` (from the top) is the ``r``-th unit of :func:`unit_order`,
    column ``t`` the step; Bokeh draws row 0 of an image at the bottom, hence the flip."""
    values = np.asarray(values, dtype=np.float32)
    t, d = values.shape
    image = values[:, unit_order(values, target, by)].T[::-1]
    return {"image": [np.ascontiguousarray(image)], "x": [-0.5], "y": [-0.5], "dw": [t], "dh": [d]}


def units_figure(units: ColumnDataSource, hover: ColumnDataSource, step_range: Range1d, n_units: int):
    """The view; returns ``(figure, colour mapper)`` (the app sets the mapper's symmetric range to
    the shown values: h lies in [-1, 1], c does not)."""
    mapper = LinearColorMapper(palette=unit_palette(), low=-1.0, high=1.0)
    fig = figure(title="Units over time (rows sorted; pink < 0 < blue)", tools="", toolbar_location=None,
                 x_range=step_range, y_range=Range1d(-0.5, n_units - 0.5), height=min(60 + UNIT_HEIGHT * n_units, 460),
                 sizing_mode="stretch_width", name="units_view", x_axis_label="word (t)", y_axis_label="unit (sorted)")
    fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=units, color_mapper=mapper, name="units_image")
    fig.rect(x="t", y=(n_units - 1) / 2, width=1, height=n_units, source=hover, fill_color=None,
             line_color="#000000", line_width=2, level="overlay", name="units_hover")
    fig.yaxis.major_label_text_font_size = "0pt"
    fig.grid.visible = False
    return fig, mapper
