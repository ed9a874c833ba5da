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
  and :class:`~rnnpanel.app.live_input.LiveInput`: the sidebar's tools;
* :class:`~rnnpanel.app.compare_view.Comparison`: the compare view, made when a comparison is
  first asked for (``compare``), shown instead of the map and the per-sequence views.

The session decides which sequence is shown (``shown``: the selected stored one, else the live
input's) and relays the keys (:mod:`rnnpanel.app.key_relay`). An entry found damaged, here or by
any session of the process, is marked in the entry list (:mod:`rnnpanel.app.entry_list`) and the
session shows a good one instead. How it is built and why: docs/app.md.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from functools import partial
from pathlib import Path

import panel as pn
import param

from rnnpanel import paths
from rnnpanel.app import first_pages
from rnnpanel.app.compare_view import CompareRequest, Comparison, refusal_html
from rnnpanel.app.damaged_entries import DAMAGED, entry_choices
from rnnpanel.app.deep_link import link_to_url
from rnnpanel.app.entry_list import EntryList
from rnnpanel.app.ghost import Ghost, GhostLayers, ghost_in_new_map, ghost_label
from rnnpanel.app.key_relay import KeyListener
from rnnpanel.app.live_input import LiveInput
from rnnpanel.app.loading import SampleLoader, cannot_show
from rnnpanel.app.projection_map import RASTER_ABOVE, ProjectionMap
from rnnpanel.app.refined_map import RefinedMapWatch
from rnnpanel.app.sequence_tabs import SequenceTabs
from rnnpanel.app.sequence_views import SequenceViews
from rnnpanel.app.shown import Shown
from rnnpanel.app.sidebar_settings import sidebar_settings
from rnnpanel.app.sidebar_tools import Downloads, WordSearch
from rnnpanel.app.whatif_panel import WhatIfPanel
from rnnpanel.app.widgets import notify, on_session_loop
from rnnpanel.app.word_edits import EditButtons, WordClicks, edited_words, unread_words
from rnnpanel.compute.projection.names import METHODS
from rnnpanel.errors import DamagedEntry, RnnpanelError
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
    ghost = param.ClassSelector(class_=Ghost, default=None, allow_None=True, constant=True,
                                doc="A sequence drawn faintly beside the shown one (what an edit changed); "
                                    "None: none. Set with show_ghost and clear_ghost.")
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
    compare = param.String(default="", doc="What the entry shown (A) is compared with: another entry's key, its "
                                           "own key (another layer), 'run' (the other checkpoints of its run), "
                                           "or '' (no comparison).")
    layer_b = param.Integer(default=-1, bounds=(-1, None),
                            doc="B's layer in a comparison (-1: B's top layer; of A's own entry, the one next to A's).")
    epoch = param.Integer(default=-1, bounds=(-1, None),
                          doc="The checkpoint of A's run B shows (-1: the first; the last when A is the first).")
    sample = param.ClassSelector(class_=Sample, default=None, constant=True, doc="The sample the map shows.")

    def __init__(self, store_root: str | Path | None = None, *, ahead: bool = False, **params) -> None:
        """``ahead``: built before its session (:mod:`rnnpanel.app.ready_apps`); what follows its
        first page is arranged when a session takes it (:meth:`for_session`)."""
        self.store_root = Path(store_root or paths.default_store())
        self.store = StateStore(self.store_root)
        self.entries = EntryList(self.store_root, entry_choices(self.store))
        self.entries_listed = self.entries.listed       # the store's entries as this session offers them
        self._ahead, self._after_taken = ahead, []
        wanted = {k: params.pop(k) for k in ("layer", "state") if k in params}   # offered once the entry is open
        keep_method = "method" in params
        super().__init__(**params)
        self.param.entry.objects = self.entries.options
        self.entries.param.watch(self._on_entry_options, "options")     # marks found from now on
        if self.entry is None and self.entries.listed:     # the first listed (if damaged: the notice, then the next)
            self.entry = self.entries.listed[0].key
        self._syncing = self._falling_back = self._opening = False
        self._sidebar_rest: pn.Column | None = None     # the sidebar's settings and tools, after the first page
        self._settings_pending = False
        self._opened: StoredEntry | None = None       # the chosen entry (opened once per process)
        self._shown_key: str | None = None            # the entry of the sample shown
        # runs a callback on the session's event loop (an app built ahead: once it has a session)
        self._on_loop = None if ahead else on_session_loop()
        self._loader = SampleLoader(failed=self._load_failed)
        self.refined = RefinedMapWatch(swap=self._swap_map)    # a placed map's refinement, swapped in when done
        self._keys = KeyListener()
        self._keys.param.watch(self._on_key, "presses")
        p = self.param
        self.views = SequenceViews(shown=p.shown, trajectory_color=p.trajectory_color, thickness=p.thickness,
                                   distance_threshold=p.distance_threshold, ep_threshold=p.ep_threshold,
                                   class_flips=p.class_flips)
        self.views.param.watch(self._on_hover, "hover_step")
        self.whatif = WhatIfPanel(self.views, show_ghost=self.show_ghost, clear_ghost=self.clear_ghost, shown=p.shown,
                                  method=p.method, ghost=p.ghost)
        self.views.under_text.append(self.whatif.__panel__())
        self.ghosts = GhostLayers(ghost=p.ghost, shown=p.shown, thickness=p.thickness,
                                  distance_threshold=p.distance_threshold, ep_threshold=p.ep_threshold,
                                  class_flips=p.class_flips)
        self._ghost_next: tuple[Ghost | None] | None = None   # (the ghost to come with the next shown), or None
        self._placing = False         # the live text is placed in a new map (not an edit)
        self._ghost_with = -1         # the selected sequence the ghost was made with (-1: the live text)
        self.word_clicks = WordClicks()
        self.word_clicks.param.watch(self._on_word_click, "clicks")
        self.views.header_tools.append(EditButtons(edit=self.edit_text, clear=self.clear_ghost, ghost=p.ghost))
        self.word_search = WordSearch(search=p.search, raster_above=p.raster_above)
        self.map = ProjectionMap(self.views, select=self._select, shown=p.shown, color_by=p.color_by, fade=p.fade,
                                 raster_above=p.raster_above, found=self.word_search.param.found)
        self.downloads = Downloads(shown=p.shown, found=self.word_search.param.found)
        self.live_input = LiveInput(typed=partial(setattr, self, "live_text"), damaged=self._found_damaged,
                                    text=p.live_text, method=p.method)
        self.live_input.param.watch(self._on_live_read, "read")
        self.tabs = SequenceTabs(views=self.views, select=self._select, damaged=self._found_damaged,
                                 clear_region=self.map.clear_region, shown=p.shown, hover_step=p.hover_step,
                                 region=self.map.param.region)
        self._main = pn.Column(sizing_mode="stretch_both")
        self._top: pn.Row | None = None               # the map and the per-sequence views, once shown
        self.comparison: Comparison | None = None     # made when a comparison is first asked for
        self._compare_notice: pn.pane.HTML | None = None    # why a comparison asked for cannot be shown
        self._page_up = False                         # comparisons open in a worker thread once it is
        self.link_explained: set[str] = set()         # link values refused with their own message
        self._refused_request: CompareRequest | None = None  # the comparison last refused (said once)
        self._opening = True
        try:
            self._open_first(wanted, keep_method)
        finally:
            self._opening = False
        self.param.watch(self._switch, ["entry", "method", "layer", "state"])
        self.param.watch(self._open_comparison, ["compare", "layer_b"])
        self.param.watch(self._on_epoch, "epoch")
        self.entries.param.watch(lambda _e: self._lay_out(), "notice")
        DAMAGED.watch(self._marked_elsewhere)

    def _open_first(self, wanted: dict, keep_method: bool) -> None:
        """Show the chosen entry, or, while it is damaged, the next good one (with a notice why)."""
        tried = set()
        while self.entry is not None and self.entry not in tried:
            tried.add(self.entry)
            problem = self.entries.damage_of(self.entry)
            if problem is None:
                if self._sync_state_choices(wanted, keep_method):
                    sample = self._loader.load_now(self._states, method=self.method)
                    if sample is not None:
                        self._show(sample)
                        return
                problem = self.entries.damage_of(self.entry)
                if problem is None:       # another failure: its notification and status say why
                    break
            self._fall_back(self.entry, problem)
            wanted, keep_method = None, False
        self._lay_out()

    # -- which entry, layer, state kind and projection ------------------------------------------
    def _states(self) -> EntryStates:
        """The shown entry's states of the chosen layer and kind."""
        return EntryStates(self.store.entry(self.entry).states(layer=self.layer, kind=self.state))

    def _sync_state_choices(self, wanted: dict | None = None, keep_method: bool = False) -> bool:
        """Offer the chosen entry's layers and state kinds; show its top layer's h unless the
        ``wanted`` layer and state exist there; its projection unless ``keep_method``: a stored
        one when there is one (not a new t-SNE of a whole corpus). False if the entry cannot be read."""
        self._opened = None
        try:
            self._opened = self.store.entry(self.entry)
            n_layers, kinds = int(self._opened.attrs["layers"]), self._opened.state_choices
        except DamagedEntry as exc:
            self._found_damaged(exc)
            return False
        except (RnnpanelError, KeyError) as exc:
            notify(f"Cannot read this entry's layers: {exc}")
            return False
        layers = {f"{i}{' (top)' if i == n_layers - 1 else ''}": i for i in range(n_layers)}
        wanted = wanted or {}
        layer = wanted["layer"] if wanted.get("layer") in layers.values() else n_layers - 1
        state = wanted["state"] if wanted.get("state") in kinds else "h"
        try:
            method = self.method if keep_method else EntryStates(
                self._opened.states(layer=layer, kind=state)).preferred_method(self.method)
        except DamagedEntry as exc:
            self._found_damaged(exc)
            return False
        except RnnpanelError as exc:
            notify(f"Cannot read this entry's maps: {exc}")
            return False
        self._syncing = True
        try:
            self.param.layer.objects, self.param.state.objects = layers, kinds
            self.param.update(layer=layer, state=state, method=method)
        finally:
            self._syncing = False
        return True

    def _switch(self, *events) -> None:
        """Load the chosen entry, layer, state kind and projection in a worker thread; a damaged
        entry is not loaded: its notice is shown, and the entry shown stays (or a good one follows)."""
        if self._syncing or self.entry is None:
            return
        chosen = any(e.name == "entry" for e in events)
        problem = self.entries.damage_of(self.entry) if chosen else None
        if problem is not None:
            self._refuse(self.entry, problem)
            return
        if not self._falling_back:      # the user moved on: the notice has been read
            self.entries.quiet()
        if chosen and not self._sync_state_choices():
            return
        self._loader.load_later(self._states, self._show, busy=self._main, method=self.method)

    # -- damaged entries ----------------------------------------------------------------------
    def _load_failed(self, error: Exception) -> None:
        """A load failed (the status says why already): a damaged entry is marked and left; any
        other failure is a notification."""
        if isinstance(error, DamagedEntry):
            self._found_damaged(error)
        else:
            notify(cannot_show(error))

    def _found_damaged(self, error: DamagedEntry) -> None:
        """``error``'s entry was found damaged while loading or reading it (here, or in the child
        process computing a map or an index): marked for every session of the process; if it is
        the entry chosen or shown, a good one is shown instead."""
        self.entries.found(error)
        notify(cannot_show(error))
        if not self._opening and error.key in (self.entry, self._shown_key):
            self._fall_back(error.key, str(error))

    def _refuse(self, key: str, message: str) -> None:
        """A damaged entry was chosen: say why, and stay on the entry shown (or show a good one)."""
        notify(f"Cannot show this entry: {message}")
        back = self._shown_key
        if back is None or self.entries.instead_of(key, back) != back:
            self._fall_back(key, message)
            return
        self.entries.say(message, instead=back)
        self._syncing = True            # its layers and projection are still those offered
        try:
            self.entry = back
        finally:
            self._syncing = False

    def _fall_back(self, key: str, message: str) -> None:
        """Entry ``key`` cannot be shown: say why and show the entry shown before, if good, else the
        next good one (or none)."""
        target = self.entries.instead_of(key, self._shown_key)
        self.entries.say(message, instead=target)
        self._falling_back = True
        try:
            self.entry = target
        finally:
            self._falling_back = False
        if target is None:
            self._top = None
            self._lay_out()

    def _on_entry_options(self, event) -> None:
        self.param.entry.objects = event.new

    def _marked_elsewhere(self) -> None:
        """Another part of the process marked an entry damaged: the list follows (on this session's
        event loop; an app built ahead is not given once the marks change: see ``entries_listed``)."""
        if self._on_loop is not None:
            self._on_loop(self.entries.refresh)

    def _lay_out(self) -> None:
        """The main area: the notice about an entry that cannot be shown, or a comparison, if any,
        above the map and the views (or the compare view) and the tabs (or, with no map, what to do)."""
        notices = [n for n in (self.entries.notice_pane(), self._compare_notice) if n is not None and n.visible]
        if self.comparison is not None and self.comparison.active:
            body = [self.comparison, self.tabs]
        else:
            body = [self._top, self.tabs] if self._top is not None else [pn.pane.HTML(self.entries.no_map_html())]
        self._main.objects = notices + body

    # -- the compare view ---------------------------------------------------------------------
    def _comparison(self) -> Comparison:
        """The compare view, made the first time a comparison is asked for (a session without one
        makes none of its models)."""
        if self.comparison is None:
            p = self.param
            self.comparison = Comparison(
                self.store, select=self._select, refused=self._compare_refused, close=self._close_comparison,
                sequence=p.sequence, color_by=p.color_by, fade=p.fade, raster_above=p.raster_above,
                context_fade=self.map.param.context_fade, search=p.search, trajectory_color=p.trajectory_color,
                thickness=p.thickness, distance_threshold=p.distance_threshold, ep_threshold=p.ep_threshold,
                class_flips=p.class_flips)
            self.comparison.param.watch(self._on_compared_epoch, "epoch")
        return self.comparison

    def _open_comparison(self, *_events) -> None:
        """Show the comparison ``compare`` and ``layer_b`` ask for, with the entry, layer, state kind
        and projection shown as A (again after any of them changed); or leave it."""
        if not self.compare or self.entry is None:
            if self.comparison is not None and self.comparison.active:
                self.comparison.close()
                self._lay_out()
            return
        request = CompareRequest(self.entry, self.layer, self.state, self.method, self.compare, self.layer_b,
                                 self.epoch)
        if self._refused_request == replace(request, epoch=-1):
            # asked again for what was just refused (the URL's query read once more when the page
            # comes up): the notice still says why; no second notification
            self.compare = ""
            return
        comparison = self._comparison()
        shown = comparison.request
        if shown is not None and shown == replace(request, epoch=shown.epoch):
            return
        self._set_compare_notice("")
        self._refused_request = None
        comparison.open(request, now=not self._page_up)
        self._lay_out()

    def _compare_refused(self, message: str, request: CompareRequest) -> None:
        """A comparison asked for cannot be shown: say why (the store's reason), stay in the single view."""
        self._refused_request = replace(request, epoch=-1)
        if pn.state.curdoc is not None and not pn.state.loaded:     # a toast made before the page is up is lost
            pn.state.onload(partial(notify, f"Cannot compare: {message}"))
        else:
            notify(f"Cannot compare: {message}")
        self.link_explained.add("compare")
        self._set_compare_notice(message)
        self.compare = ""
        self._lay_out()

    def _close_comparison(self) -> None:
        self._set_compare_notice("")
        self.compare = ""

    def _set_compare_notice(self, message: str) -> None:
        if self._compare_notice is None:
            if not message:
                return
            self._compare_notice = pn.pane.HTML(sizing_mode="stretch_width", name="compare-notice")
        self._compare_notice.object = refusal_html(message)
        self._compare_notice.visible = bool(message)

    def _on_epoch(self, event) -> None:
        if self.comparison is not None and self.comparison.active:
            self.comparison.show_epoch(event.new)

    def _on_compared_epoch(self, event) -> None:
        if self.epoch != event.new:
            self.epoch = event.new

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
        same_entry = self._shown_key == self.entry
        self._shown_key = self.entry
        for part in (self.views, self.map, self.word_search, self.downloads):
            part.sample = sample
        self._ghost_in(sample, same_entry)
        self._placing = True
        try:
            self.live_input.param.update(states=self._states(), sample=sample)   # the typed text, placed in the new map
        finally:
            self._placing = False
        self.whatif.param.update(states=self._states(), sample=sample)
        self._update_shown()
        # the height above the tabs, at least the map's least height (Panel takes it from the map)
        self._top = pn.Row(self.map, self.views, sizing_mode="stretch_both")
        self._lay_out()
        self._open_comparison()         # A changed: the comparison follows
        self._after_first_page(partial(self._show_rest, sample))
        self._after_first_page(partial(self.refined.follow, self._states(), self.method, sample))

    def _swap_map(self, sample: Sample) -> None:
        """Show ``sample``, the same states on another map of them (a placed map's refinement),
        keeping the shown sequence."""
        sequence = self.sequence
        self._show(sample)
        self.sequence = sequence

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
            self.whatif.show_controls()
            if self.comparison is not None:                        # its list of disagreements
                self.comparison.show_rest()

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
            if self.ghost is not None and self.sequence != self._ghost_with:
                self._ghost_next = (None,)      # ... and the ghost of its edits (not the same one again)
        self._update_shown()

    def _on_live_read(self, event) -> None:
        before = self.shown
        if event.new is not None and not self._placing and before.present and before.belongs_to(self.sample):
            self._ghost_next = (Ghost(before, ghost_label(before)),)      # an edit: what was shown is its ghost
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
        ghost, self._ghost_next = self._ghost_next, None
        if self.shown.same_as(shown) and ghost is None:
            return
        changes = {"shown": shown} if ghost is None else {"shown": shown, "ghost": ghost[0]}
        if ghost is not None:
            self._ghost_with = self.sequence
        with pn.io.hold(), param.edit_constant(self):
            self.param.update(changes)      # one batch: the ghost's views are filled once

    # -- the ghost of an edit ------------------------------------------------------------------
    def _ghost_in(self, sample: Sample, same_entry: bool) -> None:
        """The ghost is drawn in the new map's figures: placed again there, or dropped."""
        self.ghosts.draw_in(sample, map=self.map.figure, text=self.views.text_fig, heatmap=self.views.heatmap_fig,
                            distances=self.views.distance_fig)
        self.word_clicks.listen(self.views.text_fig, self.views.states)
        if self.ghost is not None:
            moved = ghost_in_new_map(self.ghost, sample, same_entry=same_entry, states=self._states(),
                                     method=self.method)
            with param.edit_constant(self):
                self.ghost = moved

    def edit_text(self) -> None:
        """Edit this text: the shown stored sequence's words go to the live input; once read, the
        stored sequence is the ghost."""
        shown = self.shown
        if shown.live:
            notify("This is the live text already: click a word to remove it, double-click to replace it.",
                   level="info")
        elif not shown.present:
            notify("Select a sequence first: its words go to the live input, to edit.", level="info")
        else:
            self._edit(shown.text())

    def _on_word_click(self, _event) -> None:
        """A word of the shown text clicked (removed) or double-clicked (replaced): the edited text
        is read as the live input, what was shown becomes the ghost."""
        shown, t = self.shown, self.word_clicks.step
        if not shown.present or not 0 <= t < len(shown.words):
            return
        words = edited_words(shown.words, t, self.word_clicks.replacement)
        if not words:
            notify("A one-word text has no removal: an empty text has no prediction.", level="warning")
            return
        self._edit(" ".join(words))
        unread = unread_words(words, self.shown.words) if self.shown.live else []
        if unread:
            notify(f"The model does not know {', '.join(unread)}: it read the text without it.", level="warning")

    def _edit(self, text: str) -> None:
        if text == self.live_text:
            self.live_input.read_now()      # dropped when a stored sequence was selected since
        else:
            self.live_text = text

    def show_ghost(self, shown: Shown, label: str) -> None:
        """Draw ``shown`` (stored or live) faintly as the ghost named ``label``, replacing any ghost.
        A stored one is drawn only on its own sample's map; selecting another sequence drops it."""
        self._ghost_with = self.sequence
        with pn.io.hold(), param.edit_constant(self):
            self.ghost = Ghost(shown, label)

    def clear_ghost(self) -> None:
        """Remove the ghost (the Clear ghost button; Esc)."""
        if self.ghost is not None:
            with pn.io.hold(), param.edit_constant(self):
                self.ghost = None

    def _on_hover(self, event) -> None:
        with param.edit_constant(self):
            self.hover_step = event.new

    def _on_key(self, _event) -> None:
        if self.sample is None:
            return
        key = self._keys.key
        if key == "Escape":
            self.clear_ghost()
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
            rest, self._loader.progress, self._loader.status, self.refined.status, width=SIDEBAR_WIDTH,
        )

    def __panel__(self) -> pn.viewable.Viewable:
        if pn.state.curdoc is not None and not pn.state.loaded:
            first_pages.opened(pn.state.curdoc)
        self._keys.attach(pn.state.curdoc)
        self._on_loop = on_session_loop()
        self._page_up = pn.state.curdoc is not None
        link_to_url(self)
        return pn.Row(self.sidebar(), self._main, sizing_mode="stretch_both")
