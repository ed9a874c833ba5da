"""What if, for the shown sequence (docs/design.md, What if, "In the app"): its word importance as bars
under the text and, if asked, as the words' colours; and the smallest edit that flips its prediction,
its removed words struck through in the text, the class after, and its trajectory as the map's ghost.

Every number is the entry's own model reading the sequence again
(:mod:`rnnpanel.pipeline.importance`): a stored sequence as its stored token ids (exactly the window
the model read), a live one as the ids of its words. The model runs on the process's model thread
(:mod:`rnnpanel.app.model_worker`), never while a selection is being drawn: a new shown sequence
clears the bars at once (in the selection's own patch) and its importance follows; a result that
arrives for a sequence no longer shown is dropped.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import panel as pn
import param

from rnnpanel.app.sequence_views import SequenceViews
from rnnpanel.app.shown import Shown
from rnnpanel.app.widgets import notify, on_session_loop
from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.importance import (
    DEFAULT_LIMIT,
    Flip,
    WordImportance,
    entry_model,
    smallest_flip,
    word_importance,
)
from rnnpanel.pipeline.live import live_sample
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.views.importance import (
    KINDS,
    bar_columns,
    importance_title,
    importance_values,
    removed_columns,
    value_range,
    word_color_columns,
)
from rnnpanel.views.sequence import empty_like
from rnnpanel.views.text import text_title

#: Pixels of the panel's controls and result line (the per-sequence column makes room for them).
HEIGHT = 108
CONTROLS_HEIGHT = 68          # their two rows
LIMIT_MAX = 30
#: A shown sequence's importance is asked for once it has been shown this long: stepping through
#: sequences with the arrow keys runs no model, and a selection never waits for one.
QUIET_MS = 300
SEARCHING = "<span class='rp-hint'>Searching: the model reads every removal of each round…</span>"
NO_SEQUENCE = "Select a sequence or type a text first: the flip search edits the shown sequence."
HOW = ("<span class='rp-hint' style='color:#666'>The smallest flip: the model reads the text without each word, "
       "the word whose removal moves it most towards another class goes, and so on until the class changes "
       "(greedy).</span>")


def shown_token_ids(shown: Shown, entry: Any, loaded: Any) -> np.ndarray:
    """The ids the model reads for ``shown``: a stored sequence's stored window; a live text's words
    (each a word of the model's vocabulary) looked up again."""
    if shown.live:
        return np.asarray(loaded.vocab.encode([str(w) for w in shown.sample.words]), dtype=np.int64)
    rows = shown.rows
    try:
        return np.asarray(entry.array("token_ids")[rows], dtype=np.int64)
    except RnnpanelError:
        raise
    except Exception as exc:   # a damaged chunk fails in the codec, with its own error types
        raise entry.damaged("token_ids", rows, exc) from exc


def flip_html(flip: Flip) -> str:
    """What the flip search found, in words (escaped: corpus text is data)."""
    names = flip.class_names
    before = f"{html.escape(names[flip.predicted])} {flip.path[0][flip.predicted]:.2f}"
    words = ", ".join(f"<s>{html.escape(flip.words[p])}</s>" for p in flip.removed)
    if not flip.flipped:
        tried = f" (the greedy search removed {words})" if flip.removed else ""
        return (f"<b>No flip within {flip.limit} removed word{'s' if flip.limit != 1 else ''}</b>{tried}: "
                f"still {html.escape(names[flip.predicted_after])} "
                f"{flip.probabilities_after[flip.predicted_after]:.2f} (was {before}).")
    after = flip.predicted_after
    k = len(flip.removed)
    return (f"Removing <b>{k} word{'s' if k != 1 else ''}</b> ({words}) makes it "
            f"<b>{html.escape(names[after])}</b> {flip.probabilities_after[after]:.2f} (was {before}); "
            f"its trajectory is the ghost in the map. Edited text: "
            f"<i>{html.escape(flip.text_after)}</i>")


def flip_label(flip: Flip) -> str:
    """The ghost's name: what the edit did."""
    k = len(flip.removed)
    return f"flip: {k} word{'s' if k != 1 else ''} removed → {flip.class_names[flip.predicted_after]}"


class WhatIfPanel(pn.viewable.Viewer):
    """Word importance and the smallest flip of the shown sequence, drawn in ``views``' sources."""

    sample = param.ClassSelector(class_=Sample, default=None, doc="The map's sample.")
    states = param.ClassSelector(class_=EntryStates, default=None,
                                 doc="The map's states: their entry's model reads the sequences.")
    shown = param.ClassSelector(class_=Shown, default=Shown(), allow_refs=True, doc="The sequence explained.")
    method = param.String(default="tsne", allow_refs=True, doc="The map's projection (a flip's ghost is placed in it).")
    kind = param.Selector(default="removal", objects=KINDS, doc="Which importance the bars and colours show.")
    word_color = param.Selector(default="ep", objects={"EP": "ep", "importance": "importance"},
                                doc="What the text view's word backgrounds show.")
    limit = param.Integer(default=DEFAULT_LIMIT, bounds=(1, LIMIT_MAX), doc="Words a flip may remove at most.")
    importance = param.ClassSelector(class_=WordImportance, default=None, constant=True,
                                     doc="The shown sequence's word importance, once computed (else None).")
    flip = param.ClassSelector(class_=Flip, default=None, constant=True,
                               doc="The last flip search of the shown sequence (else None).")
    busy = param.String(default="", constant=True, doc="What the model thread is computing for it ('': nothing).")
    ghost = param.Parameter(default=None, allow_refs=True,
                            doc="The map's ghost (a rnnpanel.app.ghost.Ghost or None): only this panel's own "
                                "flip is removed by it.")

    def __init__(self, views: SequenceViews, *, show_ghost: Callable[[Shown, str], None] | None = None,
                 clear_ghost: Callable[[], None] | None = None, **params) -> None:
        """``show_ghost(shown, label)`` draws a flip's edited text in the map; ``clear_ghost()`` removes it."""
        super().__init__(**params)
        self._views, self._show_ghost, self._clear_ghost = views, show_ghost, clear_ghost
        self._generation = 0          # counts shown sequences: a result for an older one is dropped
        self._search = 0              # counts flip searches: only the last one's result is shown
        self._flip_shown: Shown | None = None      # the flip's edited text this panel drew as the ghost
        self._controls: list | None = None      # made after the first page (show_controls)
        self._busy_in: tuple = (None, None)       # the bars' figure and its "computing…" label
        self._spinner = pn.indicators.LoadingSpinner(value=True, size=18, visible=False, margin=(8, 4))
        self._result = pn.pane.HTML(HOW, height=40, sizing_mode="stretch_width", margin=(0, 10), name="flip_result",
                                    styles={"overflow-y": "auto", "font-size": "12px", "line-height": "1.35"})
        self._panel = pn.Column(pn.Spacer(height=CONTROLS_HEIGHT), self._result, height=HEIGHT,
                                sizing_mode="stretch_width", margin=0, name="whatif")

    def show_controls(self) -> None:
        """Put the controls in place of their room: after a session's first page, as the sidebar's
        settings (a first document holds only what a first look needs)."""
        if self._controls is not None:
            return
        radio = pn.widgets.RadioButtonGroup.from_param
        label = partial(pn.pane.HTML, margin=(8, 2, 0, 10), styles={"font-size": "12px"})
        find = pn.widgets.Button(label="Find the smallest flip", button_type="primary", width=170, margin=(2, 6))
        find.on_click(lambda _e: self.search_flip())
        self._controls = [
            pn.Row(label("<b>Importance</b>"), radio(self.param.kind, name="", margin=(2, 4)),
                   label("<b>Words by</b>"), radio(self.param.word_color, name="", margin=(2, 4)), self._spinner,
                   height=CONTROLS_HEIGHT // 2),
            pn.Row(label("<b>Remove at most</b>"),
                   pn.widgets.IntInput.from_param(self.param.limit, name="", width=64, margin=(2, 4),
                                                  css_classes=["rp-flip-limit"]),
                   label("words:"), find, height=CONTROLS_HEIGHT // 2)]
        self._panel.objects = [*self._controls, self._result]

    # -- the shown sequence's word importance -----------------------------------------------
    @param.depends("shown", "states", watch=True)
    def _on_shown(self) -> None:
        """A new sequence: its bars, colours and flip go at once; its importance is computed next."""
        self._generation += 1
        self._search += 1
        with param.edit_constant(self):
            self.param.update(importance=None, flip=None)
        self._drop_own_ghost()
        if self._result.object != HOW:
            self._result.object = HOW
        self._views.removed.data = empty_like(self._views.removed.data)
        shown = self.shown
        if not self._readable(shown):
            self._set_busy("")
            self._draw()
            return
        self._set_busy("importance")
        self._draw()
        self._after_quiet(partial(self._ask_importance, self._generation, on_session_loop()))

    @staticmethod
    def _after_quiet(callback: Callable[[], None]) -> None:
        doc = pn.state.curdoc
        if doc is None:
            callback()
        else:
            doc.add_timeout_callback(callback, QUIET_MS)

    def _ask_importance(self, generation: int, on_loop: Callable) -> None:
        if generation == self._generation:        # else another sequence came meanwhile: its own turn follows
            self._run(self._importance_of, self._show_importance, generation, self.shown, self.states,
                      on_loop=on_loop)

    def _readable(self, shown: Shown) -> bool:
        return self.states is not None and shown.present and shown.belongs_to(self.sample)

    @staticmethod
    def _importance_of(shown: Shown, states: EntryStates) -> WordImportance:
        loaded = entry_model(states.entry)
        return word_importance(loaded, shown_token_ids(shown, states.entry, loaded))

    def _show_importance(self, importance: WordImportance) -> None:
        with param.edit_constant(self):
            self.importance = importance
        self._draw()

    @param.depends("kind", "word_color", watch=True)
    def _draw(self) -> None:
        """Fill the bars and the words' colours from ``importance`` (emptied while there is none)."""
        views, importance = self._views, self.importance
        with pn.io.hold():
            if importance is None:
                views.importance.data = empty_like(views.importance.data)
                views.word_colors.data = empty_like(views.word_colors.data)
                views.importance_range.update(start=-1.0, end=1.0)
            else:
                views.importance.data = bar_columns(importance, self.kind)
                low, high = value_range(importance_values(importance, self.kind))
                views.importance_range.update(start=low, end=high)
                views.word_colors.data = (word_color_columns(importance, self.kind)
                                          if self.word_color == "importance" else empty_like(views.word_colors.data))

    @param.depends("kind", "word_color", "sample", watch=True)
    def _titles(self) -> None:
        """The bars' and the text view's titles: what they show. Set when the user picks another kind
        or colouring (or a new sample's figures come), never on a selection (see
        :func:`~rnnpanel.views.importance.importance_title`)."""
        views = self._views
        if getattr(views, "importance_figure", None) is None:
            return
        views.importance_figure.title.text = importance_title(self.kind)
        label = next(k for k, v in KINDS.items() if v == self.kind)
        background = f"{label} importance" if self.word_color == "importance" else "EP after each word"
        views.text_fig.title.text = text_title(background, scrollable=views.scrollable)

    # -- the smallest flip ----------------------------------------------------------------------
    def search_flip(self) -> None:
        """Search the smallest flip of the shown sequence (at most ``limit`` removed words) on the model thread."""
        shown = self.shown
        if not self._readable(shown):
            notify(NO_SEQUENCE, level="warning")
            return
        self._search += 1
        self._drop_own_ghost()
        with param.edit_constant(self):
            self.flip = None
        self._views.removed.data = empty_like(self._views.removed.data)
        self._result.object = SEARCHING
        self._set_busy("flip")
        self._run(self._flip_of, self._show_flip, self._generation, shown, self.states, self.limit, self.method,
                  search=self._search)

    @staticmethod
    def _flip_of(shown: Shown, states: EntryStates, limit: int, method: str) -> tuple[Flip, Shown | None]:
        loaded = entry_model(states.entry)
        flip = smallest_flip(loaded, shown_token_ids(shown, states.entry, loaded), limit=limit)
        edited = Shown.live_read(live_sample(states, flip.text_after, method=method)) if flip.flipped else None
        return flip, edited

    def _show_flip(self, found: tuple[Flip, Shown | None]) -> None:
        flip, edited = found
        with param.edit_constant(self):
            self.flip = flip
        with pn.io.hold():
            self._views.removed.data = (removed_columns(flip) if flip.flipped
                                        else empty_like(self._views.removed.data))
            self._result.object = flip_html(flip)
        if edited is not None and self._show_ghost is not None:
            self._show_ghost(edited, flip_label(flip))
            self._flip_shown = edited

    def _drop_own_ghost(self) -> None:
        """Remove the map's ghost if it is still this panel's flip (an edit of the live text may have
        made another since)."""
        ghost, mine = self.ghost, self._flip_shown
        self._flip_shown = None
        if mine is not None and ghost is not None and ghost.shown is mine and self._clear_ghost is not None:
            self._clear_ghost()

    # -- the model thread -----------------------------------------------------------------------
    def _run(self, work: Callable[..., Any], show: Callable[[Any], None], generation: int, *args: Any,
             search: int | None = None, on_loop: Callable | None = None) -> None:
        """``work(*args)`` on the model thread, skipped if the sequence changed before it starts;
        ``show(result)`` back on the session's event loop if it is still the one shown (and, for a
        flip, still the last search); an error is said in the page."""
        from rnnpanel.app import model_worker

        on_loop = on_loop or on_session_loop()

        def current() -> bool:
            return generation == self._generation and (search is None or search == self._search)

        def done(result: Any, error: Exception | None) -> None:
            if not current():
                return                  # of a sequence (or a search) no longer shown: dropped
            if self.busy == ("importance" if search is None else "flip"):    # not the other one's, still running
                self._set_busy("")
            if error is not None:
                self._fail(error, "word importance" if search is None else "the smallest flip")
            else:
                show(result)

        def job() -> None:
            if not current():
                return                  # another sequence was shown before this one's turn came
            try:
                result = work(*args)
            except Exception as exc:    # noqa: BLE001 -- said in the page, the session goes on
                on_loop(partial(done, None, exc))
            else:
                on_loop(partial(done, result, None))

        model_worker.submit(job)

    def _fail(self, error: Exception, what: str) -> None:
        message = str(error) if isinstance(error, RnnpanelError) else f"{type(error).__name__}: {error}"
        self._result.object = f"<span style='color:#a12622'>No {what}: {html.escape(message)}</span>"
        notify(f"Cannot compute {what}: {message}", level="warning")
        self._draw()

    def _set_busy(self, what: str) -> None:
        """Say what is being computed: the importance in the bars' plot (a canvas label: no layout
        changes on a selection), a flip by the spinner beside the controls."""
        with param.edit_constant(self):
            self.busy = what
        fig = getattr(self._views, "importance_figure", None)
        if fig is not None and fig is not self._busy_in[0]:      # a new sample's figure: found once
            self._busy_in = (fig, fig.select_one({"name": "importance_busy"}))
        label = self._busy_in[1]
        if label is not None and label.visible != (what == "importance"):
            label.visible = what == "importance"
        if self._spinner.visible != (what == "flip"):
            self._spinner.visible = what == "flip"

    def __panel__(self) -> pn.viewable.Viewable:
        return self._panel
