"""The map (docs/design.md, Views, 1): every state of the sample, the shown sequence's trajectory drawn from
the per-sequence views' sources, the word search's rings and a region drawn with the box or lasso.

The component owns the map's own sources (points or their rasterised image, search rings, region
outline) and its figure, rebuilt for each sample. A click selects a sequence through ``select``;
a drawn region is published as ``region`` (the states inside it), which the tables follow.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource

from rnnpanel.app.rastermap import RasterMap
from rnnpanel.app.sequence_views import TOP_HEIGHT, SequenceViews
from rnnpanel.app.shown import Shown
from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.colors import scale_palette
from rnnpanel.views.projection import CONTEXT_FADE, color_bar, color_mapper, projection_figure, selection_veil
from rnnpanel.views.raster import EMPTY_RASTER
from rnnpanel.views.region import region_outline, states_in_polygon
from rnnpanel.views.sequence import point_columns

#: Above this many states the projection is an image rasterised on the server (docs/design.md, Scale).
RASTER_ABOVE = 20_000
#: At most this many found states are ringed: a common word of a whole corpus is found in 100,000+
#: states, whose rings would cost the browser seconds to draw. On a rasterised map the rings are
#: thinned to one per few pixels of the visible ranges first (:func:`rnnpanel.views.raster.one_per_cell`).
MAX_RINGS = 20_000
#: The map's least size, colour bar and toolbar included; the row beside the per-sequence views is
#: at least as high (Panel adds the 5 px margins), and the map fits beside them and the sidebar in a
#: 1280 px wide window.
MIN_WIDTH, MIN_HEIGHT = 380, TOP_HEIGHT - 10


def ringed(mask: np.ndarray) -> np.ndarray:
    """The found states that get a ring on a map of glyphs: all of them, or :data:`MAX_RINGS`
    spread evenly."""
    found = np.flatnonzero(mask)
    return found if len(found) <= MAX_RINGS else found[np.linspace(0, len(found) - 1, MAX_RINGS).astype(np.int64)]


class ProjectionMap(pn.viewable.Viewer):
    """The projection with its overlays; ``select(sequence)`` is called for a click on a state."""

    sample = param.ClassSelector(class_=Sample, default=None, doc="The states drawn.")
    shown = param.ClassSelector(class_=Shown, default=Shown(), allow_refs=True,
                                doc="The sequence whose trajectory is drawn; the other points fade behind it.")
    color_by = param.Selector(default="ep", objects={"expected prediction": "ep", "true class": "true_class"},
                              allow_refs=True)
    fade = param.Selector(default="none", objects={"none": "none", "correct": "correct", "wrong": "wrong"},
                          allow_refs=True, doc="Fade the correctly or wrongly classified sequences.")
    raster_above = param.Integer(default=RASTER_ABOVE, bounds=(0, None), allow_refs=True,
                                 doc="Draw the states as an image (not a glyph each) above this many states.")
    found = param.Array(default=None, allow_None=True, allow_refs=True,
                        doc="(N,) bool: the states a word search found, ringed; None: no search.")
    region = param.Array(default=None, allow_None=True,
                         doc="(N,) bool: the states inside the region drawn on the map; None: no region.")
    context_fade = param.Number(default=CONTEXT_FADE, bounds=(0.0, 0.95), step=0.05, allow_refs=True,
                                doc="How far the other states fade behind a shown trajectory (the white "
                                    "veil's opacity; 0: not at all).")

    def __init__(self, trajectory: SequenceViews, select: Callable[[int], None], **params) -> None:
        super().__init__(**params)
        self._trajectory, self._select = trajectory, select
        self.figure = None
        # one veil for every map this component draws: the fade control is linked to it in the browser
        self._veil = selection_veil(self.context_fade)
        self._raster_map: RasterMap | None = None     # large samples: the map as an image
        self.ranges = None      # (x, y) Range1d to draw the next sample in (shared by compared maps); None: its own

    @param.depends("sample", watch=True)
    def _build(self) -> None:
        sample, views = self.sample, self._trajectory
        self.points = ColumnDataSource({"x": [], "y": [], "c": [], "a": []}, name="points_src")
        self.raster = ColumnDataSource(dict(EMPTY_RASTER), name="raster_src")
        self.found_src = ColumnDataSource({"x": [], "y": []}, name="search_src")
        self.region_src = ColumnDataSource({"xs": [], "ys": []}, name="region_src")
        self._mapper = color_mapper(sample)
        rasterised = sample.n_states > self.raster_above
        fig = projection_figure(
            sample, points=self.points, states=views.states, segments=views.segments, ends=views.ends,
            labels=views.labels, hover=views.hover, mapper=self._mapper, color_by=self.color_by,
            raster=self.raster if rasterised else None, found=self.found_src, region=self.region_src,
            veil=self._veil, ranges=self.ranges)
        fig.update(min_width=MIN_WIDTH, min_height=MIN_HEIGHT)
        fig.on_event("selectiongeometry", self._on_region_geometry)
        self.figure = fig
        self.region_outline = next(r for r in fig.renderers if r.name == "region_outline")
        self._raster_map = None
        if rasterised:
            self._raster_map = RasterMap(fig, self.raster, sample.xy, scale_palette(sample.class_names),
                                         clicked=self._select_state, memo=sample.derived,
                                         marks=self.found_src, max_marks=MAX_RINGS)
        else:
            self.points.selected.on_change("indices", self._on_tap)
        self.region = None
        self._update_points()
        self._mark_found()
        self._fade_behind_trajectory()

    @param.depends("color_by", "fade", watch=True)
    def _update_points(self) -> None:
        if self.figure is None:
            return
        sample, color_by, fade = self.sample, self.color_by, self.fade
        key = ("points", color_by, fade)
        data = sample.derived(key, lambda: point_columns(sample, color_by=color_by, fade=fade))   # shared by sessions
        if self._raster_map is None:
            self.points.data = data
        else:
            self._raster_map.show(data, now=not pn.state.loaded, key=key)
        fig = self.figure
        for bar in [r for r in fig.right if isinstance(r, ColorBar)]:
            fig.right.remove(bar)
        fig.add_layout(color_bar(self.sample, self._mapper, self.color_by), "right")

    @param.depends("found", watch=True)
    def _mark_found(self) -> None:
        """Ring the states the word search found: every one on a map of glyphs (up to
        :data:`MAX_RINGS`); on a rasterised map one per few pixels of the visible ranges, thinned
        again after each pan, zoom or resize. Drawing 20,000 rings took Chromium 0.3-0.4 s on a
        whole corpus, and rings closer than a few pixels overlap into one shape anyway."""
        if self.figure is None:
            return
        mask = self.found
        if mask is not None and len(mask) != self.sample.n_states:
            mask = None
        if self._raster_map is not None:
            self._raster_map.mark(mask)
        elif mask is None:
            self.found_src.data = {"x": [], "y": []}
        else:
            rows = ringed(mask)
            self.found_src.data = {"x": self.sample.xy[rows, 0], "y": self.sample.xy[rows, 1]}

    @param.depends("shown", watch=True)
    def _fade_behind_trajectory(self) -> None:
        """Fade the other points behind the shown trajectory (a veil: the points stay untouched)."""
        if self.figure is not None:
            shown = self.shown
            self._veil.visible = shown.present and shown.belongs_to(self.sample)

    @param.depends("context_fade", watch=True)
    def _set_fade(self) -> None:
        """One property of the veil: the browser repaints the overlay, the points are not touched.
        (From :meth:`fade_slider` the browser has set it already; this keeps the server's copy.)"""
        self._veil.fill_alpha = self.context_fade

    def fade_slider(self, **params) -> pn.widgets.FloatSlider:
        """A slider of ``context_fade`` that also sets the veil's opacity in the browser as it moves,
        before the server hears of it."""
        slider = pn.widgets.FloatSlider.from_param(self.param.context_fade, **params)
        slider.jslink(self._veil, value="fill_alpha")
        return slider

    def _select_state(self, i: int) -> None:
        """Select the sequence of state ``i`` (a click on the map)."""
        self._select(int(self.sample.sequence_of_state[i]))

    def _on_tap(self, _attr, _old, new) -> None:
        if not new:
            return
        self._select_state(new[0])
        self.points.selected.indices = []

    # -- region selection -------------------------------------------------------------------------
    def _on_region_geometry(self, event) -> None:
        """A box or lasso drawn on the map: the states inside it, by geometry (glyphs or image)."""
        if not event.final:
            return
        outline = region_outline(event.geometry)
        if outline is not None:
            self.show_region(states_in_polygon(self.sample.xy, *outline), outline)

    def show_region(self, mask: np.ndarray | None, outline: tuple[list[float], list[float]] | None) -> None:
        """Outline a region and publish the states inside it (``None, None``: clear it)."""
        with pn.io.hold():
            # hidden, not emptied: BokehJS fails on a patches source going from one outline to none
            if outline is not None:
                self.region_src.data = {"xs": [outline[0]], "ys": [outline[1]]}
            self.region_outline.visible = outline is not None
            self.region = mask

    def clear_region(self) -> None:
        self.show_region(None, None)

    def __panel__(self) -> pn.viewable.Viewable:
        if self.figure is None:
            return pn.Column()
        return pn.pane.Bokeh(self.figure, sizing_mode="stretch_both")
