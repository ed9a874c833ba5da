"""The rnnpanel application: the session's state in parameters, and the components that follow it.

One :class:`RnnPanelApp` per browser session. Heavy data (the :class:`Sample`) comes from a
process-wide cache shared by every session (:mod:`rnnpanel.pipeline.load`); the components own
their small Bokeh sources and watchers and follow the session's parameters through references:

* :class:`~rnnpanel.app.sequence_views.SequenceViews`: the shown sequence's sources, and the text,
  heatmap and step-distance views beside the map;
* :class:`~rnnpanel.app.projection_map.ProjectionMap`: the map, drawing those sources as the
  trajectory; it publishes a drawn region;
* :class:`~rnnpanel.app.sequence_tabs.SequenceTabs`: the sequence table and the other tabs;
* :class:`~rnnpanel.app.sidebar_tools.WordSearch`, :class:`~rnnpanel.app.sidebar_tools.Downloads`
  and :class:`~rnnpanel.app.live_input.LiveInput`: the sidebar's tools.

The session decides which sequence is shown (``shown``: the selected stored one, else the live
input's) and relays the keys (:mod:`rnnpanel.app.key_relay`). How it is built and why: docs/app.md.
"""

from __future__ import annotations

import html
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import panel as pn
import param

from rnnpanel import paths
from rnnpanel.app import first_pages
from rnnpanel.app.deep_link import link_to_url
from rnnpanel.app.key_relay import KeyListener
from rnnpanel.app.live_input import LiveInput
from rnnpanel.app.loading import SampleLoader
from rnnpanel.app.projection_map import RASTER_ABOVE, ProjectionMap
from rnnpanel.app.sequence_tabs import SequenceTabs
from rnnpanel.app.sequence_views import SequenceViews
from rnnpanel.app.shown import Shown
from rnnpanel.app.sidebar_settings import sidebar_settings
from rnnpanel.app.sidebar_tools import Downloads, WordSearch
from rnnpanel.app.widgets import notify
from rnnpanel.compute.projection.names import METHODS
from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.load import list_entries
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.store import StateStore, StoredEntry
from rnnpanel.views.labels import DEFAULT_DISTANCE_THRESHOLD, DEFAULT_EP_THRESHOLD

#: Sidebar + projection (at least 380) + per-sequence column (620) fit a 1280 px wide window.
SIDEBAR_WIDTH = 270
#: What the sidebar says in a page's first frame, until its settings arrive (one model).
SETTINGS_PENDING = "<p style='color:#777;margin:12px 10px'>Loading the settings…</p>"


class RnnPanelApp(pn.viewable.Viewer):
    """Linked views of one store entry's hidden states."""

    entry = param.Selector(default=None, objects=[], doc="Store entry (model × dataset sample) shown.")
    method = param.Selector(default="tsne", objects=list(METHODS), doc="Projection method.")
    layer = param.Selector(default=0, objects=[0], doc="Recurrent layer whose states are shown (the top one first).")
    state = param.Selector(default="h", objects=["h"],
                           doc="State kind: h, c (LSTM), or one direction's half (bidirectional models).")
    sequence = param.Integer(default=-1, bounds=(-1, None), doc="Selected sequence (-1: none).")
    shown = param.ClassSelector(class_=Shown, default=Shown(), constant=True,
                                doc="The sequence the per-sequence views show: the selected one, else the "
                                    "live input's.")
    hover_step = param.Integer(default=-1, bounds=(-1, None), constant=True,
                               doc="Step t of the shown sequence under the pointer (-1: none), as the "
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
    sample = param.ClassSelector(class_=Sample, default=None, constant=True, doc="The sample the map shows.")

    def __init__(self, store_root: str | Path | None = None, *, ahead: bool = False, **params) -> None:
        """``ahead``: built before its session (:mod:`rnnpanel.app.ready_apps`); what follows its
        first page is arranged when a session takes it (:meth:`for_session`)."""
        self.store_root = Path(store_root or paths.default_store())
        self.store = StateStore(self.store_root)
        entries = list_entries(self.store)
        self.entries_listed = tuple(entries)        # the store's entries as this session offers them
        self._ahead, self._after_taken = ahead, []
        wanted = {k: params.pop(k) for k in ("layer", "state") if k in params}   # offered once the entry is open
        super().__init__(**params)
        self.param.entry.objects = {label: key for key, label in entries}
        if self.entry is None and entries:
            self.entry = entries[0][0]
        self._syncing = False
        self._sidebar_rest: pn.Column | None = None     # the sidebar's settings and tools, after the first page
        self._settings_pending = False
        self._opened: StoredEntry | None = None       # the chosen entry (opened once per process)
        if self.entry is not None:
            self._sync_state_choices(wanted, keep_method="method" in params)
        self._loader = SampleLoader()
        self._keys = KeyListener()
        self._keys.param.watch(self._on_key, "presses")
        p = self.param
        self.views = SequenceViews(shown=p.shown, trajectory_color=p.trajectory_color, thickness=p.thickness,
                                   distance_threshold=p.distance_threshold, ep_threshold=p.ep_threshold,
                                   class_flips=p.class_flips)
        self.views.param.watch(self._on_hover, "hover_step")
        self.word_search = WordSearch(search=p.search, raster_above=p.raster_above)
        self.map = ProjectionMap(self.views, select=self._select, shown=p.shown, color_by=p.color_by, fade=p.fade,
                                 raster_above=p.raster_above, found=self.word_search.param.found)
        self.downloads = Downloads(shown=p.shown, found=self.word_search.param.found)
        self.live_input = LiveInput(typed=partial(setattr, self, "live_text"), text=p.live_text, method=p.method)
        self.live_input.param.watch(self._on_live_read, "read")
        self.tabs = SequenceTabs(views=self.views, select=self._select,
                                 clear_region=self.map.clear_region, shown=p.shown, hover_step=p.hover_step,
                                 region=self.map.param.region)
        self._main = pn.Column(sizing_mode="stretch_both")
        if self.entry is not None:
            self._show(self._loader.load_now(self._states, method=self.method))
        else:
            self._main.objects = [pn.pane.HTML(
                f"<p>No entries in the store <code>{html.escape(str(self.store_root))}</code>. "
                "Run <code>rnnpanel serve</code> (it prepares the demo) or <code>rnnpanel extract</code>.</p>")]
        self.param.watch(self._switch, ["entry", "method", "layer", "state"])

    # -- which entry, layer, state kind and projection ------------------------------------------
    def _states(self) -> EntryStates:
        """The shown entry's states of the chosen layer and kind."""
        return EntryStates(self.store.entry(self.entry).states(layer=self.layer, kind=self.state))

    def _sync_state_choices(self, wanted: dict | None = None, keep_method: bool = False) -> None:
        """Offer the chosen entry's layers and state kinds; show its top layer's h unless the
        ``wanted`` layer and state exist there; its projection unless ``keep_method``: a stored
        one when there is one (not a new t-SNE of a whole corpus)."""
        self._opened = None
        try:
            self._opened = self.store.entry(self.entry)
            n_layers, kinds = int(self._opened.attrs["layers"]), self._opened.state_choices
        except (RnnpanelError, KeyError) as exc:
            notify(f"Cannot read this entry's layers: {exc}")
            return
        layers = {f"{i}{' (top)' if i == n_layers - 1 else ''}": i for i in range(n_layers)}
        wanted = wanted or {}
        layer = wanted["layer"] if wanted.get("layer") in layers.values() else n_layers - 1
        state = wanted["state"] if wanted.get("state") in kinds else "h"
        try:
            method = self.method if keep_method else EntryStates(
                self._opened.states(layer=layer, kind=state)).preferred_method(self.method)
        except RnnpanelError as exc:
            notify(f"Cannot read this entry's maps: {exc}")
            return
        self._syncing = True
        try:
            self.param.layer.objects, self.param.state.objects = layers, kinds
            self.param.update(layer=layer, state=state, method=method)
        finally:
            self._syncing = False

    def _switch(self, *events) -> None:
        """Load the chosen entry, layer, state kind and projection in a worker thread."""
        if self._syncing:
            return
        if any(e.name == "entry" for e in events):
            self._sync_state_choices()
        self._loader.load_later(self._states, self._show, busy=self._main, method=self.method)

    def _show(self, sample: Sample | None) -> None:
        """Show a new sample: every component rebuilds its sources and figures for it, the map after
        the per-sequence views (it draws their sources); the tabs follow the first page."""
        if sample is None:
            return
        with param.edit_constant(self):
            self.sample = sample
        self.live_input.drop()
        with param.parameterized.discard_events(self):
            self.sequence = -1
        self.tabs.wait()
        for part in (self.views, self.map, self.word_search, self.downloads):
            part.sample = sample
        self.live_input.param.update(states=self._states(), sample=sample)   # the typed text, placed in the new map
        self._update_shown()
        # the height above the tabs, at least the map's least height (Panel takes it from the map)
        top = pn.Row(self.map, self.views, sizing_mode="stretch_both")
        self._main.objects = [top, self.tabs]
        self._after_first_page(partial(self._show_rest, sample))

    def _show_rest(self, sample: Sample | None) -> None:
        """The tabs (and, the first time, the sidebar's settings and tools) once the browser has drawn
        the page, in one document update: every change of a layout of a page that is up makes Bokeh
        walk all the document's models again (0.1-0.2 s of server time each, twice a session otherwise)."""
        doc = pn.state.curdoc
        with pn.io.hold(), (doc.models.freeze() if doc is not None else nullcontext()):
            if self._sidebar_rest is not None and self._settings_pending:
                self._settings_pending = False
                self._sidebar_rest.objects = sidebar_settings(self)
            if sample is not None and sample is self.sample:       # else another entry was chosen meanwhile
                self.tabs.param.update(states=self._states(), sample=sample)

    def _after_first_page(self, callback) -> None:
        """``callback`` once the browser has drawn the page; for a page's first drawing, once the
        other sessions of the process have their first page too (:mod:`rnnpanel.app.first_pages`);
        for an app built ahead, once it has a session."""
        if self._ahead:
            self._after_taken.append(callback)
            return
        doc = pn.state.curdoc
        if doc is None or pn.state.loaded:
            pn.state.onload(callback)
        else:
            pn.state.onload(partial(first_pages.after_first_pages, doc, callback))

    def for_session(self) -> RnnPanelApp:
        """An app built ahead, given to the session being built: what follows its first page now
        waits for that page."""
        self._ahead, waiting, self._after_taken = False, self._after_taken, []
        for callback in waiting:
            self._after_first_page(callback)
        return self

    # -- which sequence is shown ----------------------------------------------------------------
    def _select(self, s: int) -> None:
        self.sequence = s

    @param.depends("sequence", watch=True)
    def _on_sequence(self) -> None:
        if self.sample is not None and self.sequence >= self.sample.n_sequences:
            notify(f"There is no sequence {self.sequence} here: this map has {self.sample.n_sequences}.",
                   level="warning")
            self.sequence = -1
            return
        if self.sequence >= 0:
            self.live_input.drop()      # a selected sequence replaces the live input's trajectory
        self._update_shown()

    def _on_live_read(self, event) -> None:
        if event.new is not None and self.sequence >= 0:
            self.sequence = -1          # shows the live input
        else:
            self._update_shown()

    def _update_shown(self) -> None:
        """The selected sequence, else the live input's; every component that draws it is refilled
        in one held document patch."""
        read = self.live_input.read
        if self.sequence < 0 and read is not None:
            shown = Shown.live_read(read)
        else:
            shown = Shown(self.sample, self.sequence)
        if self.shown.same_as(shown):
            return
        with pn.io.hold(), param.edit_constant(self):
            self.shown = shown

    def _on_hover(self, event) -> None:
        with param.edit_constant(self):
            self.hover_step = event.new

    def _on_key(self, _event) -> None:
        if self.sample is None:
            return
        key = self._keys.key
        if key == "Escape":
            if self.sequence < 0:
                self.live_input.clear()
            self.sequence = -1
            return
        order = self.tabs.order()
        if order is None:
            order = list(range(self.sample.n_sequences))
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
        """The title and the loader's progress at once; the settings of the views and the tools
        (search, live input, export) follow the first page, with the tabs: a session's first
        document holds only what its first look and its first keys need, so that a server opening
        many sessions at once sends each page sooner (benchmarks/RESULTS.md, "Many users opening the app at once")."""
        rest = self._sidebar_rest = pn.Column(sizing_mode="stretch_width")
        if pn.state.curdoc is None or pn.state.loaded:      # a notebook, or a page already up
            rest.objects = sidebar_settings(self)
        else:
            self._settings_pending = True
            rest.objects = [pn.pane.HTML(SETTINGS_PENDING)]
            if self.sample is None:                         # no map shown: no tabs to come with
                self._after_first_page(partial(self._show_rest, None))
        return pn.Column(
            pn.pane.HTML("<h2 style='margin:4px 0'>rnnpanel</h2>"
                         "<p style='margin:0;color:#555'>hidden states of a recurrent classifier</p>"),
            rest, self._loader.progress, self._loader.status, width=SIDEBAR_WIDTH,
        )

    def __panel__(self) -> pn.viewable.Viewable:
        if pn.state.curdoc is not None and not pn.state.loaded:
            first_pages.opened(pn.state.curdoc)
        self._keys.attach(pn.state.curdoc)
        link_to_url(self)
        return pn.Row(self.sidebar(), self._main, sizing_mode="stretch_both")
