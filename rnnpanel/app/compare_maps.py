"""The two maps of the compare view (docs/app.md, "The compare view"): each a
:class:`~rnnpanel.app.projection_map.ProjectionMap` (points or their image, colouring, fading,
search rings, the veil behind a trajectory, a click to select) drawing the trajectory of its own
side's sequence, in ranges both maps share (so they pan and zoom together, at equal aspect).

* :class:`ComparedTrajectory` holds one side's per-sequence sources (the trajectory, its ends and
  labels, the hovered state), filled as the single view fills its own, with no text, heatmap or
  distance figures beside them;
* :class:`ComparedMap` names its Bokeh models apart from the single view's and the other side's
  (``compare_a_…``, ``compare_b_…``), has no region tools (the region belongs to the single view),
  marks the state corresponding to the one hovered in the other map, and moves its points to
  another checkpoint's positions in place (:meth:`ComparedMap.move_to`).
"""

from __future__ import annotations

import panel as pn
import param
from bokeh.models import BoxSelectTool, ColumnDataSource, LassoSelectTool, Model

from rnnpanel.app.projection_map import ProjectionMap
from rnnpanel.app.sequence_views import END_RING, START_RING
from rnnpanel.app.shown import Shown
from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.compare import animate_moves, partner_mark
from rnnpanel.views.labels import DEFAULT_DISTANCE_THRESHOLD, DEFAULT_EP_THRESHOLD
from rnnpanel.views.linking import empty_hover_source
from rnnpanel.views.sequence import empty_like, trajectory_columns

#: The compared maps' least height: the EP plot and the list of disagreements sit below them.
MIN_HEIGHT = 440
#: Width over height of each compared map's frame and colour bar.
ASPECT = 1.35


class ComparedTrajectory(param.Parameterized):
    """One side's shown sequence as the map draws it (the sources a
    :class:`~rnnpanel.app.sequence_views.SequenceViews` gives its map), refilled in one held patch
    when the sequence or a trajectory setting changes."""

    shown = param.ClassSelector(class_=Shown, default=Shown(), doc="The sequence drawn (of this side's sample).")
    trajectory_color = param.Selector(default="ep", objects={"EP": "ep", "time": "time"}, allow_refs=True)
    thickness = param.Selector(default="constant", objects=["constant", "time", "distance"], allow_refs=True)
    distance_threshold = param.Number(default=DEFAULT_DISTANCE_THRESHOLD, bounds=(0.0, 1.0), allow_refs=True)
    ep_threshold = param.Number(default=DEFAULT_EP_THRESHOLD, bounds=(0.0, 1.0), allow_refs=True)
    class_flips = param.Boolean(default=True, allow_refs=True)

    def __init__(self, prefix: str, **params) -> None:
        super().__init__(**params)
        self.prefix = prefix
        self.renew()

    def renew(self) -> None:
        """Fresh sources (for a new pair of maps: the previous figures keep nothing alive)."""
        p = self.prefix
        self.states = ColumnDataSource({k: [] for k in ("x", "y", "t", "word", "ep", "pred", "conf", "color",
                                                        "d", "wx", "wy", "ww")}, name=f"{p}states_src")
        self.segments = ColumnDataSource({k: [] for k in ("x0", "y0", "x1", "y1", "color", "width", "d",
                                                          "ep0", "ep1", "t")}, name=f"{p}segments_src")
        self.ends = ColumnDataSource({"x": [], "y": [], "color": []}, name=f"{p}ends_src")
        self.labels = ColumnDataSource({"x": [], "y": [], "word": [], "t": []}, name=f"{p}labels_src")
        self.hover = empty_hover_source()
        self.hover.name = f"{p}hover_state"
        self.mark = ColumnDataSource({"x": [], "y": []}, name=f"{p}partner_src")

    @param.depends("shown", "trajectory_color", "thickness", "distance_threshold", "ep_threshold", "class_flips",
                   watch=True)
    def fill(self) -> None:
        shown = self.shown
        with pn.io.hold():
            if not shown.present:
                for src in (self.states, self.segments, self.ends, self.labels, self.hover):
                    src.data = empty_like(src.data)
                return
            sample, s = shown.sample, shown.index
            columns = trajectory_columns(sample, s, color_by=self.trajectory_color, thickness=self.thickness,
                                         distance_threshold=self.distance_threshold, ep_threshold=self.ep_threshold,
                                         class_flips=self.class_flips, rings=(START_RING, END_RING))
            for name in ("states", "segments", "ends", "labels"):
                getattr(self, name).data = columns[name]
            self.hover.data = empty_like(self.hover.data)


class ComparedMap(ProjectionMap):
    """A map of the compare view: ``prefix`` names its models; ``select(sequence)`` gets a click."""

    def __init__(self, trajectory: ComparedTrajectory, select, *, prefix: str, title: str = "", **params) -> None:
        self.prefix, self.title = prefix, title
        super().__init__(trajectory, select, **params)

    @param.depends("sample", watch=True)
    def _build(self) -> None:
        super()._build()
        fig = self.figure
        fig.title.text = self.title
        # as wide as half the row, as high as ASPECT says: a wide window gets taller maps
        fig.update(sizing_mode="scale_width", aspect_ratio=ASPECT, min_height=MIN_HEIGHT, name=f"{self.prefix}map")
        # no region here: the select tools belong to the single view's map (and its tables)
        fig.tools = [t for t in fig.tools if not isinstance(t, (BoxSelectTool, LassoSelectTool))]
        partner_mark(fig, self._trajectory.mark, f"{self.prefix}partner")
        named = {fig, *fig.renderers, self.points, self.raster, self.found_src, self.region_src}
        for model in named:
            if isinstance(model, Model) and model.name and not model.name.startswith(self.prefix):
                model.name = f"{self.prefix}{model.name}"
        if self._raster_map is None:
            animate_moves(self.points)

    def __panel__(self) -> pn.viewable.Viewable:
        if self.figure is None:
            return pn.Column()
        return pn.pane.Bokeh(self.figure, sizing_mode="scale_width")

    def move_to(self, sample: Sample) -> None:
        """Show ``sample``, the same states at other positions and with other predictions (another
        checkpoint of the run), in this figure: the points' source gets the new positions and
        colours (they travel there in the browser, :func:`~rnnpanel.views.compare.animate_moves`),
        or the image is drawn again; nothing else is rebuilt."""
        old = self.sample
        if old is None or old.n_states != sample.n_states:
            self.sample = sample
            return
        with param.parameterized.discard_events(self):
            self.sample = sample
        color_by, fade = self.color_by, self.fade
        key = ("points", color_by, fade)
        from rnnpanel.views.sequence import point_columns

        data = sample.derived(key, lambda: point_columns(sample, color_by=color_by, fade=fade))
        with pn.io.hold():
            if self._raster_map is None:     # where they come from too: the browser moves them from there
                self.points.data.update({**data, "px": old.xy[:, 0], "py": old.xy[:, 1]})
            else:
                self._raster_map.xy = sample.xy
                self._raster_map._memo = sample.derived
                self._raster_map.show(data, key=key)
            self._mark_found()
            self._fade_behind_trajectory()
