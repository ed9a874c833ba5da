"""The per-sequence views (docs/design.md, Views, 2-6): the shown sequence's trajectory sources, which the
map draws, and the column beside the map: a header, the input text, the time × class heatmap and
the step distances.

The component owns every per-sequence Bokeh source and the shared ``hover`` source; a change of
the shown sequence or of a trajectory setting refills them in one held document patch (the
browser repaints once). Hover linking stays in the browser (:mod:`rnnpanel.views.linking`); the
server learns the hovered step afterwards, as ``hover_step``.
"""

from __future__ import annotations

import html
import weakref

import panel as pn
import param
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.models import ColumnDataSource, CustomJS, Range1d

from rnnpanel.app.shown import Shown
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.pipeline.sample import Sample
from rnnpanel.views.distances import distance_figure
from rnnpanel.views.heatmap import heatmap_figure
from rnnpanel.views.importance import add_word_overlays, importance_figure
from rnnpanel.views.labels import DEFAULT_DISTANCE_THRESHOLD, DEFAULT_EP_THRESHOLD
from rnnpanel.views.linking import empty_hover_source
from rnnpanel.views.sequence import (
    LINE_HEIGHT,
    distance_columns,
    empty_like,
    heatmap_columns,
    text_layout,
    trajectory_columns,
)
from rnnpanel.views.text import LINE_PIXELS, TEXT_PIXELS, text_figure, text_height

START_RING, END_RING = "#8c8c8c", "#000000"
#: Least height of the row holding the projection and the per-sequence views; the text view gets at
#: least the lines left over there by the what-if controls, the importance bars, the heatmap and the
#: distance bars (longer texts scroll with the wheel). In a taller window the row fills the height
#: above the tabs: the text view grows up to the entry's longest text, the bars and the heatmap
#: share the rest. No height depends
#: on the selection: a figure changing height on a selection would re-lay out the page.
TOP_HEIGHT = 740
#: Keeps the text view at :data:`~rnnpanel.views.text.LINE_PIXELS` per line whatever its height:
#: a taller view shows more lines (from the same first one), not taller ones. Run in the browser
#: when the view is resized; a selection sets the range for the height the browser last reported.
TEXT_LINES_JS = """
const h = fig.inner_height;
if (!(h > 0)) return;
const yr = fig.y_range, start = yr.end - h / line_pixels * line_height;
if (Math.abs(yr.start - start) > 1e-6 * line_height) yr.start = start;
"""
HEADER_HEIGHT = 40
PANE_MARGINS = 50        # Panel's default 5 px above and below each of the five panes
MIN_TEXT_LINES = 2
HINT = ("<p class='rp-hint'>Select a sequence: click a row of the table or a point of the map; "
        "arrow keys step through the table, Esc clears. Hover words, states, cells or bars.</p>")
_TEXT_LINES: LockedCache[tuple[weakref.ref, int]] = LockedCache(16)   # by id(sample), checked by a weak reference


def text_lines_needed(sample: Sample) -> int:
    """Lines the longest text of ``sample`` wraps to in the text view (computed once per sample)."""
    cached = _TEXT_LINES.get(id(sample))     # (a Sample holds arrays: it cannot be a key itself)
    if cached is not None and cached[0]() is sample:
        return cached[1]
    lines = 1
    for s in range(sample.n_sequences):
        _, wy, _ = text_layout([str(w) for w in sample.words[sample.sequence_slice(s)]])
        if len(wy):
            lines = max(lines, int(round(-wy.min() / LINE_HEIGHT)) + 1)
    _TEXT_LINES.put(id(sample), (weakref.ref(sample), lines))
    return lines


def header_html(shown: Shown) -> str:
    """The line above the text: which sequence, its true and predicted class, and what was cut."""
    sample, s = shown.sample, shown.index
    if shown.live:
        names = sample.class_names
        cut = int(sample.n_cut[0])
        cut_note = f" · {cut} words cut by the model's window" if cut else ""
        return (f"<b>Live input</b> · predicted: {html.escape(names[sample.predictions[0]])} "
                f"({sample.confidence[0]:.2f}) · {sample.n_states} known words · "
                f"{html.escape(sample.projection)}{html.escape(cut_note)}")
    if not shown.present:
        return HINT
    names = sample.class_names
    n_words = int(sample.offsets[s + 1] - sample.offsets[s])
    cut = int(sample.n_cut[s])
    where = "before" if sample.truncation == "last" else "after"
    cut_note = f" · {cut} tokens cut {where} the model's window" if cut else ""
    verdict = "correct" if sample.labels[s] == sample.predictions[s] else "WRONG"
    return (f"<b>Sequence {int(sample.sequence_ids[s])}</b> · true: {html.escape(names[sample.labels[s]])}"
            f" · predicted: {html.escape(names[sample.predictions[s]])} "
            f"({sample.confidence[s]:.2f}, {verdict}) · {n_words} words{html.escape(cut_note)}")


def fit_lines(fig) -> None:
    """Show as many lines as the text view ``fig`` has room for (:data:`TEXT_LINES_JS`), in the browser."""
    callback = CustomJS(args={"fig": fig, "line_pixels": LINE_PIXELS, "line_height": LINE_HEIGHT},
                        code=TEXT_LINES_JS)
    fig.js_on_change("inner_height", callback)


def lines_shown(fig, default: int) -> float:
    """Lines the text view ``fig`` has room for, as the browser last reported its height (``default``
    until it has)."""
    try:
        height = fig.inner_height
    except UnsetValueError:
        return default
    return height / LINE_PIXELS if height else default


class SequenceViews(pn.viewable.Viewer):
    """The shown sequence's sources and the text, heatmap and distance views of it."""

    sample = param.ClassSelector(class_=Sample, default=None, doc="The map's sample; fixes the views' sizes.")
    shown = param.ClassSelector(class_=Shown, default=Shown(), allow_refs=True, doc="The sequence drawn.")
    trajectory_color = param.Selector(default="ep", objects={"EP": "ep", "time": "time"}, allow_refs=True)
    thickness = param.Selector(default="constant", objects=["constant", "time", "distance"], allow_refs=True)
    distance_threshold = param.Number(default=DEFAULT_DISTANCE_THRESHOLD, bounds=(0.0, 1.0), step=0.01,
                                      allow_refs=True)
    ep_threshold = param.Number(default=DEFAULT_EP_THRESHOLD, bounds=(0.0, 1.0), step=0.01, allow_refs=True)
    class_flips = param.Boolean(default=True, allow_refs=True, doc="Label the words where the predicted class flips.")
    hover_step = param.Integer(default=-1, bounds=(-1, None), constant=True,
                               doc="Step t of the shown sequence under the pointer (-1: none), as the "
                                   "browser reports it after drawing the highlight.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._panel: pn.Column | None = None
        #: Panes of a fixed height drawn under the text view (the what-if panel), set before a sample.
        self.under_text: list[pn.viewable.Viewable] = []
        #: Small widgets at the right of the header (the edit buttons), set before a sample.
        self.header_tools: list[pn.viewable.Viewable] = []
        self._build_sources()
        self._sources_used = False          # by a sample's figures (a new sample gets fresh ones)

    def _build_sources(self) -> None:
        """Fresh sources for each sample: the previous sample's figures keep nothing alive."""
        self.states = ColumnDataSource({k: [] for k in ("x", "y", "t", "word", "ep", "pred", "conf", "color",
                                                        "d", "wx", "wy", "ww")}, name="states_src")
        self.segments = ColumnDataSource({k: [] for k in ("x0", "y0", "x1", "y1", "color", "width", "d",
                                                          "ep0", "ep1", "t")}, name="segments_src")
        self.ends = ColumnDataSource({"x": [], "y": [], "color": []}, name="ends_src")
        self.labels = ColumnDataSource({"x": [], "y": [], "word": [], "t": []}, name="labels_src")
        self.cells = ColumnDataSource({k: [] for k in ("t", "row", "alpha", "color", "cls", "p", "word")},
                                      name="heatmap_src")
        self.bars = ColumnDataSource({"t": [], "d": [], "color": [], "word": []}, name="distances_src")
        # word importance, filled by the what-if panel (rnnpanel.app.whatif_panel) once computed
        self.importance = ColumnDataSource({"t": [], "v": [], "color": [], "word": []}, name="importance_src")
        self.importance_range = Range1d(-1.0, 1.0)
        self.word_colors = ColumnDataSource({"wx": [], "wy": [], "ww": [], "color": []}, name="word_colors_src")
        self.removed = ColumnDataSource({"x0": [], "x1": [], "y": []}, name="removed_words_src")
        self.hover = empty_hover_source()
        self.hover.on_change("data", self._on_hover)
        self.step_range = Range1d(-0.5, 10.5)

    @param.depends("sample", watch=True)
    def _build(self) -> None:
        """The sources and figures of a new sample (the map draws the trajectory from the sources)."""
        sample = self.sample
        if self._sources_used:
            self._build_sources()
        self._sources_used = True
        heat = heatmap_figure(self.cells, self.states, self.hover, sample.class_names, self.step_range)
        dist, self._span = distance_figure(self.bars, self.states, self.hover, self.step_range,
                                           self.distance_threshold)
        self.heatmap_fig, self.distance_fig = heat, dist      # a ghost's strips and bars are drawn in them
        self.importance_figure = imp = importance_figure(self.importance, self.states, self.hover, self.step_range,
                                                         self.importance_range)
        under_text = sum(int(part.height or 0) for part in self.under_text)
        room = (TOP_HEIGHT - HEADER_HEIGHT - PANE_MARGINS - heat.height - dist.height - imp.height - text_height(0)
                - under_text)
        needed = text_lines_needed(sample)
        self._text_lines = max(MIN_TEXT_LINES, min(needed, room // LINE_PIXELS))
        self.scrollable = needed > self._text_lines
        self._text_fig = text = text_figure(self.states, self.hover, n_lines=self._text_lines,
                                            scrollable=self.scrollable)
        add_word_overlays(text, self.word_colors, self.removed)
        fit_lines(text)
        # a taller window: the text view grows to the longest text, the heatmap and the bars share the rest
        text.update(sizing_mode="stretch_height", min_height=text.height,
                    max_height=max(text.height, text_height(needed)))
        for fig in (imp, heat, dist):
            fig.update(sizing_mode="stretch_height", min_height=fig.height)
        self.header = pn.pane.HTML(HINT, sizing_mode="stretch_width", height=HEADER_HEIGHT,
                                   margin=(5, 10, 5, 10), name="sequence_header")
        text_pane, *panes = [pn.pane.Bokeh(fig, sizing_mode="stretch_height") for fig in (text, imp, heat, dist)]
        top = pn.Row(self.header, *self.header_tools, margin=0) if self.header_tools else self.header
        self._panel = pn.Column(top, text_pane, *self.under_text, *panes, width=TEXT_PIXELS + 20,
                                sizing_mode="stretch_height")
        self._fill()

    @param.depends("shown", "trajectory_color", "thickness", "distance_threshold", "ep_threshold", "class_flips",
                   watch=True)
    def _fill(self) -> None:
        """Refill every per-sequence source; held, so the browser gets one patch and repaints once."""
        if self._panel is None:
            return
        with pn.io.hold():
            self._fill_sources()

    def _fill_sources(self) -> None:
        shown = self.shown
        if not shown.belongs_to(self.sample):      # of the previous map: the new one's shown arrives next
            shown = Shown()
        if not shown.present:
            for src in (self.states, self.segments, self.ends, self.labels, self.cells, self.bars, self.hover):
                src.data = empty_like(src.data)
        else:
            sample, s = shown.sample, shown.index
            columns = trajectory_columns(sample, s, color_by=self.trajectory_color, thickness=self.thickness,
                                         distance_threshold=self.distance_threshold, ep_threshold=self.ep_threshold,
                                         class_flips=self.class_flips, rings=(START_RING, END_RING))
            for name in ("states", "segments", "ends", "labels"):
                getattr(self, name).data = columns[name]
            states = columns["states"]
            self.cells.data = heatmap_columns(sample, s)
            self.bars.data = distance_columns(sample, s)
            self.hover.data = empty_like(self.hover.data)
            n = len(states["t"])
            self.step_range.update(start=-0.5, end=n - 0.5)
            # back to the first line, scrolling no further than the last
            lines = max(self._text_lines, int(round(-min(states["wy"]) / LINE_HEIGHT)) + 1 if n else 1)
            visible = lines_shown(self._text_fig, self._text_lines)
            self._text_fig.y_range.update(start=(0.5 - visible) * LINE_HEIGHT, end=0.5 * LINE_HEIGHT,
                                          bounds=(-(lines - 0.5) * LINE_HEIGHT, 0.5 * LINE_HEIGHT))
        self._span.location = self.distance_threshold
        self.header.object = header_html(shown)

    @property
    def text_fig(self):
        """The text view's figure (its title says what the words' backgrounds show)."""
        return self._text_fig

    def _on_hover(self, _attr, _old, new) -> None:
        steps = new.get("t", [])
        with param.edit_constant(self):
            self.hover_step = int(steps[0]) if len(steps) else -1

    def __panel__(self) -> pn.viewable.Viewable:
        return self._panel if self._panel is not None else pn.Column()
