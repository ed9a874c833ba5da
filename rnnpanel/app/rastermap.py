"""Keeps a rasterised map (large samples, :mod:`rnnpanel.views.raster`) in step with the browser:
re-rasterised for the visible ranges after a pan or zoom and at the frame's pixel size once the
browser reports it; a click is resolved by geometry to the nearest state; a word search's rings are
thinned to what the frame can show (:func:`~rnnpanel.views.raster.one_per_cell`) and thinned again
with each new image."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import panel as pn
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.models import ColumnDataSource

from rnnpanel.views.raster import nearest_state, one_per_cell, raster_columns

FRAME_GUESS = (480, 540)      # the map's frame in pixels at 1400 × 900, until the browser reports it
TAP_RADIUS_PX = 6             # a click selects the nearest state at most this far away


def frame_size(fig) -> tuple[int, int]:
    """A figure's frame in pixels as the browser last reported it (a guess until it has)."""
    try:
        return max(int(fig.inner_width), 1), max(int(fig.inner_height), 1)
    except (UnsetValueError, TypeError):
        return FRAME_GUESS


class RasterMap:
    """The image source of one map figure; ``clicked(state index)`` is called for a click near a state.
    ``marks`` (optional) is the source of the word search's rings (columns x, y), at most
    ``max_marks`` of them, filled by :meth:`mark`."""

    def __init__(self, fig, source: ColumnDataSource, xy: np.ndarray, palette: tuple[list[str], float, float], *,
                 clicked: Callable[[int], None],
                 memo: Callable[[Hashable, Callable[[], Any]], Any] | None = None,
                 marks: ColumnDataSource | None = None, max_marks: int | None = None) -> None:
        self.fig, self.source, self.xy, self.palette = fig, source, xy, palette
        self._clicked, self._memo = clicked, memo
        self._marks, self._max_marks = marks, max_marks
        self._found: np.ndarray | None = None     # rows of the found states (all, unthinned)
        self._marks_view: tuple | None = None     # the ranges and frame size the rings were thinned for
        self._points: dict | None = None
        self._points_key: Hashable = None
        self._pending = False
        self._ranges: tuple | None = None     # the visible ranges, as last reported
        fig.on_event("tap", self._on_tap)
        fig.on_event("rangesupdate", self._on_ranges)
        fig.on_change("inner_width", self._on_size)
        fig.on_change("inner_height", self._on_size)
        for rng in (fig.x_range, fig.y_range):     # widened in the browser to keep the map's aspect
            rng.on_change("start", self._on_range_change)
            rng.on_change("end", self._on_range_change)

    def show(self, points: dict[str, np.ndarray], *, now: bool = False, key: Hashable = None) -> None:
        """Draw ``points`` (the glyph view's columns): ``now``, or on the next tick (in a server).
        ``key`` names them for ``memo`` (e.g. the colouring), which then keeps the image of the
        whole map at each frame size: every new page starts there, and at millions of states
        rasterising it is 0.3 s of each page's server time."""
        self._points, self._points_key = points, key
        self.request(now=now)

    def request(self, now: bool = False) -> None:
        """Re-rasterise on the next tick (a zoom or a resize reports several changes at once), or
        ``now``: while the page is being built, or outside a server. The document is the one asking
        (an app may be built ahead of its session: :mod:`rnnpanel.app.ready_apps`)."""
        doc = pn.state.curdoc
        if now or doc is None:
            self._render()
        elif not self._pending:
            self._pending = True
            doc.add_next_tick_callback(self._render)

    def mark(self, found: np.ndarray | None) -> None:
        """Ring the states of ``found`` ((N,) bool; None: none), now: one per few pixels of the
        visible ranges, thinned again whenever the image is re-rasterised for new ranges or a new
        frame size, so that zooming in shows the rings that were merged."""
        self._found = None if found is None else np.flatnonzero(found)
        self._draw_marks(force=True)

    def _draw_marks(self, force: bool = False) -> None:
        if self._marks is None:
            return
        view = None
        if self._found is not None and len(self._found):
            view = (*self._visible(), *frame_size(self.fig))
        if view == self._marks_view and not force:     # e.g. a new colouring: the same rings
            return
        self._marks_view = view
        if view is None:
            self._marks.data = {"x": [], "y": []}
            return
        x_range, y_range, width, height = view
        rows = one_per_cell(self.xy, self._found, x_range=x_range, y_range=y_range, width=width, height=height,
                            limit=self._max_marks)
        self._marks.data = {"x": self.xy[rows, 0], "y": self.xy[rows, 1]}

    def _visible(self) -> tuple[tuple[float, float], tuple[float, float]]:
        fig = self.fig
        return self._ranges or ((fig.x_range.start, fig.x_range.end), (fig.y_range.start, fig.y_range.end))

    def _render(self) -> None:
        self._pending = False
        self._draw_marks()
        if self._points is None:
            return
        (x_range, y_range), (width, height) = self._visible(), frame_size(self.fig)
        points = self._points

        def draw() -> dict:
            return raster_columns(points, *self.palette, x_range=x_range, y_range=y_range, width=width, height=height)

        if self._memo is not None and self._points_key is not None and self._ranges is None:   # not zoomed
            self.source.data = self._memo(("raster", self._points_key, x_range, y_range, width, height), draw)
        else:
            self.source.data = draw()

    def _on_ranges(self, event) -> None:
        self._ranges = ((event.x0, event.x1), (event.y0, event.y1))
        self.request()

    def _on_size(self, _attr, _old, _new) -> None:
        self.request()

    def _on_range_change(self, _attr, _old, _new) -> None:
        """A range set in the browser without a ranges event: the equal-aspect code widens them once
        the frame's size is known (:func:`rnnpanel.views.projection.keep_equal_aspect`), after the
        size reached the server; an image of the narrower ranges was stretched to the wider ones."""
        if self._ranges is not None:
            fig = self.fig
            self._ranges = ((fig.x_range.start, fig.x_range.end), (fig.y_range.start, fig.y_range.end))
        self.request()

    def _on_tap(self, event) -> None:
        (x0, x1), _ = self._visible()
        per_pixel = abs(x1 - x0) / frame_size(self.fig)[0]
        i = nearest_state(self.xy, event.x, event.y, TAP_RADIUS_PX * per_pixel)
        if i >= 0:
            self._clicked(i)
