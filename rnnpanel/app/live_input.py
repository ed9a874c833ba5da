"""Live input (docs/design.md, Tools beyond the paper): a text typed in the sidebar, read by the entry's own model
0.3 s after the last keystroke and placed in the current map (:mod:`rnnpanel.pipeline.live`).
The component publishes what it read as ``read``; the session decides when it is the shown
sequence (a selected stored sequence replaces it)."""

from __future__ import annotations

from collections.abc import Callable

import panel as pn
import param

from rnnpanel.app.widgets import Debounced, notify, titled
from rnnpanel.errors import DamagedEntry, RnnpanelError
from rnnpanel.pipeline.live import LiveRead, live_sample
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates

#: How to edit the shown text word by word (docs/design.md, What if, "Ghosts of edits").
EDIT_HINT = ("A click on a word of the shown text removes it, a double-click replaces it; <i>Edit this text</i> "
             "starts from a stored sequence. What was shown stays as a faint ghost until <i>Clear ghost</i> or Esc.")


class LiveInput(pn.viewable.Viewer):
    """A text box whose text the model reads into the map of ``states``' ``sample``."""

    text = param.String(default="", allow_refs=True, doc="The text read by the entry's model.")
    states = param.ClassSelector(class_=EntryStates, default=None,
                                 doc="The states of the map: their entry's model reads the text.")
    sample = param.ClassSelector(class_=Sample, default=None,
                                 doc="The map the text is placed in.")
    method = param.String(default="tsne", allow_refs=True, doc="The map's projection method.")
    read = param.ClassSelector(class_=LiveRead, default=None, constant=True,
                               doc="The text as read and placed; None when there is none (or it was dropped).")

    def __init__(self, typed: Callable[[str], None], damaged: Callable[[DamagedEntry], None] | None = None,
                 **params) -> None:
        """``typed(text)`` receives the box's text once a burst of keystrokes is over; ``damaged(error)``
        hears of the entry's states found damaged while placing it (else a notification)."""
        super().__init__(**params)
        self._typed = typed
        self._damaged = damaged or (lambda error: notify(f"Cannot read this text: {error}"))
        self._box = pn.widgets.TextAreaInput(
            placeholder="Type or paste a text: the model reads it and its trajectory appears in the map.",
            rows=4, sizing_mode="stretch_width")
        self._box.param.watch(lambda _e: self._burst(), "value_input")
        self._burst = Debounced(lambda: self._typed(self._box.value_input or ""))

    def drop(self) -> None:
        """Forget the read text without telling anyone (a selected sequence replaced it)."""
        with param.discard_events(self), param.edit_constant(self):
            self.read = None

    def clear(self) -> None:
        """Forget the read text (Esc)."""
        with param.edit_constant(self):
            self.read = None

    def read_now(self) -> None:
        """Read ``text`` again (an edit gave the text it already had: a stored sequence shown since
        dropped what it read)."""
        self._read()

    @param.depends("text", watch=True)
    def _show_text(self) -> None:
        """The box shows a text given from elsewhere (an edit of the shown words)."""
        if self.text != (self._box.value_input or ""):
            self._box.param.update(value=self.text, value_input=self.text)

    @param.depends("sample", watch=True)
    def _place_again(self) -> None:
        """A new map: the text read before is placed in it (or nothing, if it cannot be)."""
        self.drop()
        self._read()

    @param.depends("text", watch=True)
    def _read(self) -> None:
        """Run the entry's model on ``text`` and place its states in the current map."""
        if self.sample is None or self.states is None:
            return
        read = None
        if self.text.strip():
            try:
                read = live_sample(self.states, self.text, method=self.method)
            except DamagedEntry as exc:
                self._damaged(exc)
                return
            except RnnpanelError as exc:
                notify(f"Cannot read this text: {exc}", level="warning")
                return
        with param.edit_constant(self):
            self.read = read

    def __panel__(self) -> pn.viewable.Viewable:
        hint = pn.pane.HTML(EDIT_HINT, margin=(0, 10), styles={"color": "#555", "font-size": "12px"})
        return pn.Column(*titled("Live input", self._box), hint)
