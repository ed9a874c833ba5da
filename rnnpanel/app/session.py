"""The rnnpanel application: session state in parameters, linked views as functions of it.

One :class:`RnnPanelApp` per browser session. Heavy data (the :class:`Sample`) comes from a
process-wide cache shared by every session; a session owns only its small Bokeh sources.
Selection changes go through the server (they need new per-sequence data); hover linking stays
in the browser (see :mod:`rnnpanel.views.linking`), and the server only learns the hovered step
afterwards (``hover_step``), off the path of what the user sees.

Parts with a life of their own are components beside this module: the key relay (``keys``), the
rasterised map of large samples (``rastermap``), the Units and Neighbours tabs (``details``) and
the Region tab (``region``). How it is built and why: docs/app.md.
"""

from __future__ import annotations

import html
import logging
import threading
import weakref
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, Range1d
from panel.io.state import set_curdoc

from rnnpanel import paths
from rnnpanel.app.details import NEIGHBOURS, UNITS, StateDetails
from rnnpanel.app.keys import KeyListener
from rnnpanel.app.rastermap import RasterMap
from rnnpanel.app.region import RegionPanel, region_outline
from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.live import live_sample
from rnnpanel.pipeline.load import list_entries, load_sample
from rnnpanel.pipeline.sample import Sample
from rnnpanel.store import StateStore
from rnnpanel.views import overview
from rnnpanel.views.distances import distance_figure
from rnnpanel.views.heatmap import heatmap_figure
from rnnpanel.views.labels import DEFAULT_DISTANCE_THRESHOLD, DEFAULT_EP_THRESHOLD
from rnnpanel.views.linking import empty_hover_source
from rnnpanel.views.colors import scale_palette
from rnnpanel.views.projection import color_bar, color_mapper, projection_figure
from rnnpanel.views.export import sequence_table, states_table, table_bytes
from rnnpanel.views.raster import EMPTY_RASTER
from rnnpanel.views.region import states_in_polygon
from rnnpanel.views.search import matching_states
from rnnpanel.views.sequence import (LINE_HEIGHT, distance_columns, empty_like, heatmap_columns, label_columns,
                                     point_columns, segment_columns, state_columns, text_layout)
from rnnpanel.views.text import LINE_PIXELS, TEXT_PIXELS, text_figure, text_height

log = logging.getLogger(__name__)

START_RING, END_RING = "#8c8c8c", "#000000"
#: Height of the row holding the projection and the per-sequence views; the text view gets the
#: lines left over by the heatmap and the distance bars (longer texts scroll with the wheel). Every
#: height there is fixed per entry: a figure changing height on a selection re-lays out the page.
TOP_HEIGHT = 620
HEADER_HEIGHT = 40
PANE_MARGINS = 40        # Panel's default 5 px above and below each of the four panes
MIN_TEXT_LINES = 2
#: Sidebar + projection (at least 440) + per-sequence column (620) fit a 1400 px wide window.
SIDEBAR_WIDTH = 270
#: Above this many states the projection is an image rasterised on the server (SPEC §2 "Scale").
RASTER_ABOVE = 20_000
BURST_DELAY_MS = 300          # typing and hovering are acted on this long after they start
TABLE_HEIGHT = 420
TABS = ("Sequences", "Dataset overview", UNITS, NEIGHBOURS, "Region")
_TEXT_LINES: dict[int, tuple[weakref.ref, int]] = {}


def text_lines_needed(sample: Sample) -> int:
    """Lines the longest text of ``sample`` wraps to in the text view (computed once per sample)."""
    cached = _TEXT_LINES.get(id(sample))
    if cached is not None and cached[0]() is sample:
        return cached[1]
    lines = 1
    for s in range(sample.n_sequences):
        _, wy, _ = text_layout([str(w) for w in sample.words[sample.sequence_slice(s)]])
        if len(wy):
            lines = max(lines, int(round(-wy.min() / LINE_HEIGHT)) + 1)
    _TEXT_LINES[id(sample)] = (weakref.ref(sample), lines)
    return lines


def notify(message: str, level: str = "error") -> None:
    """A notification in the page (never a traceback); logged as well."""
    log.warning(message)
    if pn.state.notifications is not None:
        getattr(pn.state.notifications, level)(message, duration=8000)


class RnnPanelApp(pn.viewable.Viewer):
    """Linked views of one store entry's hidden states."""

    entry = param.Selector(default=None, objects=[], doc="Store entry (model × dataset sample) shown.")
    method = param.Selector(default="tsne", objects=["tsne", "umap", "pca"], doc="Projection method.")
    layer = param.Selector(default=0, objects=[0], doc="Recurrent layer whose states are shown (the top one first).")
    state = param.Selector(default="h", objects=["h"],
                           doc="State kind: h, c (LSTM), or one direction's half (bidirectional models).")
    sequence = param.Integer(default=-1, bounds=(-1, None), doc="Selected sequence (-1: none).")
    hover_step = param.Integer(default=-1, bounds=(-1, None), constant=True,
                               doc="Step t of the selected sequence under the pointer (-1: none), as the "
                                   "browser reports it after drawing the highlight.")
    color_by = param.Selector(default="ep", objects={"expected prediction": "ep", "true class": "true_class"})
    fade = param.Selector(default="none", objects={"none": "none", "correct": "correct", "wrong": "wrong"},
                          doc="Fade the correctly or wrongly classified sequences.")
    trajectory_color = param.Selector(default="ep", objects={"EP": "ep", "time": "time"})
    thickness = param.Selector(default="constant", objects=["constant", "time", "distance"])
    distance_threshold = param.Number(default=DEFAULT_DISTANCE_THRESHOLD, bounds=(0.0, 1.0), step=0.01)
    ep_threshold = param.Number(default=DEFAULT_EP_THRESHOLD, bounds=(0.0, 1.0), step=0.01)
    class_flips = param.Boolean(default=True, doc="Label the words where the predicted class flips.")
    search = param.String(default="", doc="Words or patterns whose states are ringed on the map "
                                          "(separated by commas or spaces; * and ? are wildcards).")
    live_text = param.String(default="", doc="A text read by the entry's model and drawn in its map (live input).")
    raster_above = param.Integer(default=RASTER_ABOVE, bounds=(0, None),
                                 doc="Draw the projection as an image (not a glyph per state) above this many states.")

    def __init__(self, store_root: str | Path | None = None, **params) -> None:
        self.store_root = Path(store_root or paths.default_store())
        entries = list_entries(self.store_root)
        super().__init__(**params)
        self.param.entry.objects = {label: key for key, label in entries}
        if self.entry is None and entries:
            self.entry = entries[0][0]
        self._syncing = False
        if self.entry is not None:
            self._sync_state_choices(keep="layer" in params or "state" in params)
        self.sample: Sample | None = None
        self._table: pn.widgets.Tabulator | None = None   # arrives after the first page (see _show_tables)
        self._tabs: pn.Tabs | None = None
        self._details: StateDetails | None = None
        self._focus_t = -1                                 # the last hovered step: the neighbours' state
        self._last_shown: tuple = ()
        self._live: Sample | None = None          # the live input's sequence, when it is the one shown
        self._live_states = None                  # ... and its states in the original space
        self._typed = ""
        self._pending_callbacks: set[str] = set()
        self._doc = pn.state.curdoc
        self._live_box = pn.widgets.TextAreaInput(
            placeholder="Type or paste a text: the model reads it and its trajectory appears in the map.",
            rows=4, sizing_mode="stretch_width")
        self._live_box.param.watch(self._on_live_typing, "value_input")
        self._search_status = pn.pane.HTML("", margin=(0, 10), styles={"color": "#555"})
        self._keys = KeyListener()
        self._keys.param.watch(self._on_key, "presses")
        self._progress = pn.indicators.Progress(value=0, max=100, visible=False,
                                                sizing_mode="stretch_width")
        self._status = pn.pane.HTML("", sizing_mode="stretch_width")
        self._main = pn.Column(sizing_mode="stretch_both")
        if self.entry is not None:
            self._show(self._load_now())
        else:
            self._main.objects = [pn.pane.HTML(
                f"<p>No entries in the store <code>{html.escape(str(self.store_root))}</code>. "
                "Run <code>rnnpanel serve</code> (it prepares the demo) or <code>rnnpanel extract</code>.</p>")]
        self.param.watch(self._switch, ["entry", "method", "layer", "state"])

    # -- data ---------------------------------------------------------------------------------
    def _build_sources(self) -> None:
        self.points = ColumnDataSource({"x": [], "y": [], "c": [], "a": []}, name="points_src")
        self.raster = ColumnDataSource(dict(EMPTY_RASTER), name="raster_src")
        self.found = ColumnDataSource({"x": [], "y": []}, name="search_src")
        self.region_src = ColumnDataSource({"xs": [], "ys": []}, name="region_src")
        self._region: np.ndarray | None = None      # the states inside the drawn region
        self._region_filter: list | None = None
        self._raster_map: RasterMap | None = None     # large samples: the map as an image
        self.states = ColumnDataSource({k: [] for k in ("x", "y", "t", "word", "ep", "pred", "conf", "color",
                                                        "d", "wx", "wy", "ww")}, name="states_src")
        self.segments = ColumnDataSource({k: [] for k in ("x0", "y0", "x1", "y1", "color", "width", "d",
                                                          "ep0", "ep1", "t")}, name="segments_src")
        self.ends = ColumnDataSource({"x": [], "y": [], "color": []}, name="ends_src")
        self.labels = ColumnDataSource({"x": [], "y": [], "word": [], "t": []}, name="labels_src")
        self.cells = ColumnDataSource({k: [] for k in ("t", "row", "alpha", "color", "cls", "p", "word")},
                                      name="heatmap_src")
        self.bars = ColumnDataSource({"t": [], "d": [], "color": [], "word": []}, name="distances_src")
        self.hover = empty_hover_source()
        self.hover.on_change("data", self._on_hover)
        self.step_range = Range1d(-0.5, 10.5)

    def _sync_state_choices(self, keep: bool = False) -> None:
        """Offer the chosen entry's layers and state kinds; show its top layer's h unless ``keep``
        and the current choice exists there too."""
        try:
            entry = StateStore(self.store_root).open_entry(self.entry)
            n_layers, kinds = int(entry.attrs["layers"]), entry.state_choices
        except (RnnpanelError, KeyError) as exc:
            notify(f"Cannot read this entry's layers: {exc}")
            return
        layers = {f"{i}{' (top)' if i == n_layers - 1 else ''}": i for i in range(n_layers)}
        layer = self.layer if keep and self.layer in layers.values() else n_layers - 1
        state = self.state if keep and self.state in kinds else "h"
        self._syncing = True
        try:
            self.param.layer.objects, self.param.state.objects = layers, kinds
            self.param.update(layer=layer, state=state)
        finally:
            self._syncing = False

    def _load_now(self) -> Sample | None:
        try:
            return load_sample(self.store_root, self.entry, layer=self.layer, state=self.state, method=self.method,
                               progress=self._report)
        except RnnpanelError as exc:
            notify(f"Cannot show this entry: {exc}")
            return None

    def _report(self, fraction: float, message: str = "") -> None:
        self._progress.value = int(round(100 * max(0.0, min(1.0, fraction))))
        if message:
            self._status.object = html.escape(message)

    def _switch(self, *events) -> None:
        """Load the chosen entry, layer, state kind and projection in a worker thread; progress and
        the result come back to the session's event loop (``pn.state.execute``), so the page stays
        responsive meanwhile (a projection not yet in the store is computed there)."""
        if self._syncing:
            return
        if any(e.name == "entry" for e in events):
            self._sync_state_choices()
        doc = pn.state.curdoc
        entry, method, layer, state = self.entry, self.method, self.layer, self.state

        def on_loop(callback) -> None:
            with set_curdoc(doc):
                pn.state.execute(callback, schedule=True)

        def work() -> None:
            try:
                sample = load_sample(self.store_root, entry, layer=layer, state=state, method=method,
                                     progress=lambda f, m="": on_loop(partial(self._report, f, m)))
            except RnnpanelError as exc:
                on_loop(partial(self._finish_switch, None, exc))
            else:
                on_loop(partial(self._finish_switch, sample, None))

        self._progress.visible = True
        self._main.loading = True
        threading.Thread(target=work, name="rnnpanel-load", daemon=True).start()

    def _finish_switch(self, sample: Sample | None, error: RnnpanelError | None) -> None:
        self._progress.visible = False
        self._main.loading = False
        self._status.object = ""
        if error is not None:
            notify(f"Cannot show this entry: {error}")
        self._show(sample)

    # -- building the views -------------------------------------------------------------------
    def _show(self, sample: Sample | None) -> None:
        if sample is None:
            return
        self.sample = sample
        self._live = None
        self._table = self._tabs = self._details = None    # the new entry's arrive after the first page
        with param.parameterized.discard_events(self):
            self.sequence = -1
        self._build_sources()   # fresh sources: the previous entry's figures keep nothing alive
        self._doc = pn.state.curdoc
        self._mapper = color_mapper(sample)
        rasterised = sample.n_states > self.raster_above
        fig = projection_figure(
            sample, points=self.points, states=self.states, segments=self.segments, ends=self.ends,
            labels=self.labels, hover=self.hover, mapper=self._mapper, color_by=self.color_by,
            raster=self.raster if rasterised else None, found=self.found, region=self.region_src)
        fig.on_event("selectiongeometry", self._on_region_geometry)
        self._projection_fig = fig
        self._veil = next(r for r in fig.renderers if r.name == "selection_veil")
        self._region_outline = next(r for r in fig.renderers if r.name == "region_outline")
        if rasterised:
            self._raster_map = RasterMap(fig, self.raster, sample.xy, scale_palette(sample.class_names), doc=self._doc,
                                         clicked=self._select_state)
        else:
            self.points.selected.on_change("indices", self._on_tap)
        self._update_points()
        self._update_search()
        self._fill_sequence()
        heat = heatmap_figure(self.cells, self.states, self.hover, sample.class_names, self.step_range)
        dist, self._span = distance_figure(self.bars, self.states, self.hover, self.step_range,
                                           self.distance_threshold)
        room = TOP_HEIGHT - HEADER_HEIGHT - PANE_MARGINS - heat.height - dist.height - text_height(0)
        needed = text_lines_needed(sample)
        self._text_lines = max(MIN_TEXT_LINES, min(needed, room // LINE_PIXELS))
        self._text_fig = text_figure(self.states, self.hover, n_lines=self._text_lines,
                                     scrollable=needed > self._text_lines)
        self._header = pn.pane.HTML(self._header_html(), sizing_mode="stretch_width", height=HEADER_HEIGHT,
                                    margin=(5, 10, 5, 10), name="sequence_header")
        per_sequence = pn.Column(self._header, pn.pane.Bokeh(self._text_fig), pn.pane.Bokeh(heat),
                                 pn.pane.Bokeh(dist), width=TEXT_PIXELS + 20)
        top = pn.Row(pn.pane.Bokeh(fig, sizing_mode="stretch_both", min_height=560), per_sequence,
                     sizing_mode="stretch_width", height=TOP_HEIGHT)
        self._below = pn.Column(pn.pane.HTML("<p class='rp-hint'>Loading the sequence table…</p>"),
                                sizing_mode="stretch_width", min_height=TABLE_HEIGHT)
        self._main.objects = [top, self._below]
        pn.state.onload(partial(self._show_tables, sample))
        if self.live_text.strip():
            self._run_live()            # the typed text, placed in the new map

    def _show_tables(self, sample: Sample) -> None:
        """The sequence table and the dataset overview, sent once the page is drawn.

        Tabulator is the slowest view to render (about 0.4 s in Chromium); the map, the keys and
        the per-sequence views need not wait for it. The overview tab is built when first opened.
        """
        if sample is not self.sample:   # another entry was chosen meanwhile
            return
        self._table = pn.widgets.Tabulator(
            overview.sequence_frame(sample), pagination="remote", page_size=12, selectable=1, disabled=True,
            show_index=False, header_filters=True, sizing_mode="stretch_width", height=TABLE_HEIGHT,
            formatters={"first words": {"type": "plaintext"}, "correct": {"type": "tickCross"}},
            widths={"first words": 520}, selection=[self.sequence] if self.sequence >= 0 else [])
        self._table.param.watch(self._on_table, "selection")
        dataset = pn.param.ParamFunction(lambda: self._dataset_overview(sample), lazy=True)
        self._details = StateDetails(store_root=self.store_root, entry=self.entry, sample=sample, hover=self.hover,
                                     step_range=self.step_range, select=self._select_sequence)
        self._region_panel = RegionPanel(clear=lambda: self._set_region(None, None))
        self._tabs = pn.Tabs(*zip(TABS, (self._table, dataset, self._details.units, self._details.neighbours,
                                         self._region_panel.panel)),
                             sizing_mode="stretch_width", dynamic=True)
        self._tabs.param.watch(lambda _e: self._update_details(), "active")
        self._below.objects = [self._tabs]
        if self._region is not None:            # drawn before the table arrived
            self._set_region(self._region, (self.region_src.data["xs"][0], self.region_src.data["ys"][0]))

    def _select_sequence(self, s: int) -> None:
        self.sequence = s

    # -- region selection -------------------------------------------------------------------------
    def _on_region_geometry(self, event) -> None:
        """A box or lasso drawn on the map: the states inside it, by geometry (glyphs or image)."""
        if not event.final or self.sample is None:
            return
        outline = region_outline(event.geometry)
        if outline is not None:
            self._set_region(states_in_polygon(self.sample.xy, *outline), outline)

    def _set_region(self, mask: np.ndarray | None, outline) -> None:
        """Show the region's outline and words, and keep only its sequences in the table."""
        with pn.io.hold():
            self._region = mask
            # hidden, not emptied: BokehJS fails on a patches source going from one outline to none
            if outline is not None:
                self.region_src.data = {"xs": [outline[0]], "ys": [outline[1]]}
            self._region_outline.visible = outline is not None
            if self._table is not None:
                if self._region_filter is not None:
                    self._table.remove_filter(self._region_filter)
                    self._region_filter = None
                if mask is not None:
                    ids = self.sample.sequence_ids[np.unique(self.sample.sequence_of_state[mask])]
                    self._region_filter = [int(i) for i in ids]
                    self._table.add_filter(self._region_filter, "id")
            if self._tabs is not None:
                self._region_panel.show(self.sample, mask)

    def _update_details(self) -> None:
        """Draw the Units or Neighbours tab if it is the open one (they read the original states)."""
        if self._tabs is None or self._details is None:
            return
        sample, s = self._shown()
        vectors = self._live_states if sample is not None and sample is self._live else None
        self._details.show(TABS[self._tabs.active], sample, s, self._focus_t, vectors)

    def _dataset_overview(self, sample: Sample) -> pn.Column:
        summary = overview.dataset_frame(sample)
        return pn.Column(
            pn.pane.HTML(self._dataset_html(summary)),
            pn.widgets.Tabulator(summary, show_index=False, disabled=True, width=460),
            pn.Row(overview.class_bars_figure(sample), overview.confusion_figure(sample)),
        )

    def _header_html(self) -> str:
        sample, s = self._shown()
        if sample is not None and sample is self._live:
            names = sample.class_names
            cut = int(sample.n_cut[0])
            cut_note = f" · {cut} words cut by the model's window" if cut else ""
            return (f"<b>Live input</b> · predicted: {html.escape(names[sample.predictions[0]])} "
                    f"({sample.confidence[0]:.2f}) · {sample.n_states} known words · "
                    f"{html.escape(sample.projection)}{html.escape(cut_note)}")
        if sample is None or s < 0:
            return ("<p class='rp-hint'>Select a sequence: click a row of the table or a point of the map; "
                    "arrow keys step through the table, Esc clears. Hover words, states, cells or bars.</p>")
        names = sample.class_names
        n_words = int(sample.offsets[s + 1] - sample.offsets[s])
        cut = int(sample.n_cut[s])
        where = "before" if sample.truncation == "last" else "after"
        cut_note = f" · {cut} tokens cut {where} the model's window" if cut else ""
        verdict = "correct" if sample.labels[s] == sample.predictions[s] else "WRONG"
        return (f"<b>Sequence {int(sample.sequence_ids[s])}</b> · true: {html.escape(names[sample.labels[s]])}"
                f" · predicted: {html.escape(names[sample.predictions[s]])} "
                f"({sample.confidence[s]:.2f}, {verdict}) · {n_words} words{html.escape(cut_note)}")

    @staticmethod
    def _dataset_html(summary) -> str:
        total = summary.iloc[-1]
        return (f"<p><b>{int(total['sequences'])}</b> sequences, <b>{int(total['correct'])}</b> correctly "
                f"classified (accuracy {float(total['accuracy']):.3f}).</p>")

    # -- reactions ------------------------------------------------------------------------------
    @param.depends("color_by", "fade", watch=True)
    def _update_points(self) -> None:
        if self.sample is None or not hasattr(self, "_projection_fig"):
            return
        data = point_columns(self.sample, color_by=self.color_by, fade=self.fade)
        fig = self._projection_fig
        if self._raster_map is None:
            self.points.data = data
        else:
            self._raster_map.show(data, now=not pn.state.loaded)
        for bar in [r for r in fig.right if isinstance(r, ColorBar)]:
            fig.right.remove(bar)
        fig.add_layout(color_bar(self.sample, self._mapper, self.color_by), "right")

    def _select_state(self, i: int) -> None:
        """Select the sequence of state ``i`` (a click on the map)."""
        self.sequence = int(self.sample.sequence_of_state[i])

    @param.depends("sequence", "trajectory_color", "thickness", "distance_threshold", "ep_threshold",
                   "class_flips", watch=True)
    def _fill_sequence(self) -> None:
        """Refill every per-sequence source; held, so the browser gets one patch and repaints once."""
        with pn.io.hold():
            self._fill_sequence_sources()

    def _shown(self) -> tuple[Sample | None, int]:
        """The sequence the per-sequence views show: the selected one, else the live input's."""
        if self.sequence < 0 and self._live is not None:
            return self._live, 0
        return self.sample, self.sequence

    def _fill_sequence_sources(self) -> None:
        if self.sequence >= 0:
            self._live = None       # a selected sequence replaces the live input's trajectory
        sample, s = self._shown()
        if sample is None:
            return
        if self._last_shown != (id(sample), s):
            self._last_shown, self._focus_t = (id(sample), s), -1
        if s < 0 or s >= sample.n_sequences:
            for src in (self.states, self.segments, self.ends, self.labels, self.cells, self.bars, self.hover):
                src.data = empty_like(src.data)
            self._set_point_fading(False)
        else:
            states = state_columns(sample, s)
            self.states.data = states
            self.segments.data = segment_columns(sample, s, color_by=self.trajectory_color, thickness=self.thickness)
            self.ends.data = {"x": [states["x"][0], states["x"][-1]], "y": [states["y"][0], states["y"][-1]],
                              "color": [START_RING, END_RING]}
            self.labels.data = label_columns(sample, s, distance_threshold=self.distance_threshold,
                                             ep_threshold=self.ep_threshold, class_flips=self.class_flips)
            self.cells.data = heatmap_columns(sample, s)
            self.bars.data = distance_columns(sample, s)
            self.hover.data = empty_like(self.hover.data)
            n = len(states["t"])
            self.step_range.update(start=-0.5, end=n - 0.5)
            self._set_point_fading(True)
            if hasattr(self, "_text_fig"):  # back to the first line, scrolling no further than the last
                lines = max(self._text_lines, int(round(-min(states["wy"]) / LINE_HEIGHT)) + 1 if n else 1)
                self._text_fig.y_range.update(start=-(self._text_lines - 0.5) * LINE_HEIGHT,
                                              end=0.5 * LINE_HEIGHT,
                                              bounds=(-(lines - 0.5) * LINE_HEIGHT, 0.5 * LINE_HEIGHT))
        if hasattr(self, "_span"):
            self._span.location = self.distance_threshold
        if hasattr(self, "_header"):
            self._header.object = self._header_html()
        if self._table is not None:
            wanted = [self.sequence] if self.sequence >= 0 else []
            if list(self._table.selection) != wanted:
                self._table.selection = wanted
        self._update_details()

    def _set_point_fading(self, faded: bool) -> None:
        """Fade the other points behind the selected trajectory (a veil: the points stay untouched)."""
        if hasattr(self, "_veil"):
            self._veil.visible = faded

    def _on_tap(self, _attr, _old, new) -> None:
        if not new or self.sample is None:
            return
        self._select_state(new[0])
        self.points.selected.indices = []

    def _on_hover(self, _attr, _old, new) -> None:
        steps = new.get("t", [])
        with param.edit_constant(self):
            self.hover_step = int(steps[0]) if len(steps) else -1
        if self.hover_step >= 0 and self.hover_step != self._focus_t:
            self._focus_t = self.hover_step
            if self._tabs is not None and TABS[self._tabs.active] == NEIGHBOURS:
                self._later(self._update_details)

    def _later(self, callback) -> None:
        """Run ``callback`` once for a burst of events (keystrokes, hovers): :data:`BURST_DELAY_MS`
        after the first; it reads the state as it is by then, so the burst's last event counts."""
        if self._doc is None:
            callback()
            return
        name = callback.__name__
        if name in self._pending_callbacks:
            return
        self._pending_callbacks.add(name)

        def run() -> None:
            self._pending_callbacks.discard(name)
            callback()
        self._doc.add_timeout_callback(run, BURST_DELAY_MS)

    # -- word search and export -------------------------------------------------------------------
    def _found_mask(self):
        return matching_states(self.sample.words, self.search) if self.search.strip() else None

    @param.depends("search", watch=True)
    def _update_search(self) -> None:
        """Ring every state whose word matches the search, and say how many there are."""
        with pn.io.hold():       # Bokeh sources change under the document's lock, in one patch
            self._mark_found()

    def _mark_found(self) -> None:
        if self.sample is None:
            return
        mask = self._found_mask()
        if mask is None:
            self.found.data = {"x": [], "y": []}
            self._search_status.object = ""
            return
        self.found.data = {"x": self.sample.xy[mask, 0], "y": self.sample.xy[mask, 1]}
        n_seq = len(np.unique(self.sample.sequence_of_state[mask]))
        self._search_status.object = (f"{int(mask.sum())} states in {n_seq} sequences"
                                      if mask.any() else "no state has such a word")

    def _export_sequence(self):
        sample, s = self._shown()
        if sample is None or s < 0:
            notify("Select a sequence (or type a text) to export it.", level="info")
            return table_bytes(pd.DataFrame(), "csv")
        return table_bytes(sequence_table(sample, s), "csv")

    def _export_states(self):
        """Every state of the map, or only those the word search found."""
        if self.sample is None:
            return table_bytes(pd.DataFrame(), "parquet")
        return table_bytes(states_table(self.sample, self._found_mask()), "parquet")

    # -- live input -----------------------------------------------------------------------------
    def _on_live_typing(self, event) -> None:
        """Read the text shortly after typing starts (edits arrive one character at a time)."""
        self._typed = event.new
        self._later(self._apply_typed)

    def _apply_typed(self) -> None:
        self.live_text = self._typed

    @param.depends("live_text", watch=True)
    def _run_live(self) -> None:
        """Run the entry's model on ``live_text`` and show its trajectory in the current map."""
        if self.sample is None:
            return
        read = None
        if self.live_text.strip():
            try:
                read = live_sample(self.store_root, self.entry, self.live_text, layer=self.layer, state=self.state,
                                   method=self.method)
            except RnnpanelError as exc:
                notify(f"Cannot read this text: {exc}", level="warning")
                return
        live = None if read is None else read.sample
        self._live, self._live_states = live, (None if read is None else read.states)
        if self.sequence >= 0 and live is not None:
            self.sequence = -1          # refills the views, now from the live input
        else:
            self._fill_sequence()

    def _on_table(self, event) -> None:
        if event.new:
            self.sequence = int(event.new[0])

    def _on_key(self, _event) -> None:
        if self.sample is None:
            return
        key = self._keys.key
        if key == "Escape":
            if self.sequence < 0 and self._live is not None:
                self._live = None
                self._fill_sequence()
            self.sequence = -1
            return
        table = self._table
        order = list(table.current_view.index) if table is not None else list(range(self.sample.n_sequences))
        if not order:
            return
        step = 1 if key in ("ArrowDown", "ArrowRight") else -1
        if self.sequence in order:
            position = (order.index(self.sequence) + step) % len(order)
        else:
            position = 0 if step > 0 else len(order) - 1
        self.sequence = int(order[position])

    # -- layout -------------------------------------------------------------------------------
    def sidebar(self) -> pn.Column:
        """The settings of the views; the tools (search, live input, export) follow the first page."""
        choice = pn.widgets.RadioButtonGroup.from_param
        tools = pn.Column(sizing_mode="stretch_width")
        pn.state.onload(lambda: tools.extend(self._tools()))
        return pn.Column(
            pn.pane.HTML("<h2 style='margin:4px 0'>rnnpanel</h2>"
                         "<p style='margin:0;color:#555'>hidden states of a recurrent classifier</p>"),
            labelled("Entry", pn.widgets.Select.from_param(self.param.entry, name="", sizing_mode="stretch_width")),
            labelled("Projection", choice(self.param.method, name="")),
            pn.Row(labelled("Layer", pn.widgets.Select.from_param(self.param.layer, name="", width=90)),
                   labelled("State", choice(self.param.state, name=""))),
            labelled("Colour points by", choice(self.param.color_by, name="")),
            labelled("Fade sequences", choice(self.param.fade, name="")),
            labelled("Trajectory colour", choice(self.param.trajectory_color, name="")),
            labelled("Trajectory thickness", choice(self.param.thickness, name="")),
            pn.widgets.FloatSlider.from_param(self.param.distance_threshold, name="Label: step distance >",
                                              sizing_mode="stretch_width"),
            pn.widgets.FloatSlider.from_param(self.param.ep_threshold, name="Label: EP change >",
                                              sizing_mode="stretch_width"),
            pn.widgets.Checkbox.from_param(self.param.class_flips, name="Label class flips"),
            tools, self._progress, self._status, width=SIDEBAR_WIDTH,
        )

    def _tools(self) -> list:
        """Word search, live input and export: sent once the page is drawn, like the table."""
        return [
            labelled("Find words", pn.widgets.TextInput.from_param(
                self.param.search, name="", placeholder="e.g. good, bad*  (Enter)", sizing_mode="stretch_width")),
            self._search_status,
            labelled("Live input", self._live_box),
            labelled("Export", pn.Row(
                pn.widgets.FileDownload(callback=self._export_sequence, filename="sequence.csv",
                                        label="Sequence (CSV)", width=118),
                pn.widgets.FileDownload(callback=self._export_states, filename="states.parquet",
                                        label="Map (Parquet)", width=118))),
        ]

    def __panel__(self) -> pn.viewable.Viewable:
        self._keys.attach(pn.state.curdoc)
        return pn.Row(self.sidebar(), self._main, sizing_mode="stretch_both")


def labelled(text: str, widget) -> pn.Column:
    """A widget under a bold title (radio button groups have none of their own)."""
    return pn.Column(pn.pane.HTML(f"<b>{text}</b>", margin=(6, 10, -6, 10)), widget)


def create_app(store_root: str | Path | None = None, **params) -> RnnPanelApp:
    """The application object ``apps/main.py`` and ``rnnpanel serve`` make servable."""
    return RnnPanelApp(store_root=store_root, **params)
