"""Editing the shown text word by word (docs/design.md, What if, "Ghosts of edits"): a click on a word
of the text view removes it, a double-click asks for a word to put in its place; "Edit this text"
copies a stored sequence's words into the live input. The session turns each edit into a new live
text, and what was shown before it becomes the ghost.

The clicks are relayed as the keys are (:mod:`rnnpanel.app.key_relay`): a few lines of JavaScript
find the word under the pointer and replace a one-row Bokeh source, which the server hears of.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import panel as pn
import param
from bokeh.models import ColumnDataSource, CustomJS

from rnnpanel.views.sequence import LINE_HEIGHT

# The word under the pointer, from the text view's layout columns (wx, wy, ww).
_FIND = f"""
const s = states.data, x = cb_obj.x, y = cb_obj.y;
let k = -1;
for (let i = 0; i < s.wx.length; i++) {{
  if (Math.abs(x - s.wx[i]) <= s.ww[i] / 2 && Math.abs(y - s.wy[i]) <= {LINE_HEIGHT * 0.45}) {{ k = i; break; }}
}}
const send = (word) => {{
  const n = clicks.data.n.length ? clicks.data.n[0] + 1 : 1;
  clicks.data = {{t: [k], word: [word], n: [n]}};
}};
"""
# A double-click is a click first: the click waits a double-click's time before it removes the word.
_CLICK = _FIND + """
if (k < 0) { return; }
clearTimeout(clicks._rp_pending);
clicks._rp_pending = setTimeout(() => send(''), 320);
"""
_DOUBLE_CLICK = _FIND + """
clearTimeout(clicks._rp_pending);
if (k < 0) { return; }
const word = window.prompt(`Replace “${s.word[k]}” with:`, s.word[k]);
if (word !== null && word.trim() && word.trim() !== s.word[k]) { send(word.trim()); }
"""


def edited_words(words: list[str], t: int, replacement: str = "") -> list[str]:
    """``words`` with word ``t`` removed, or replaced by the words of ``replacement``."""
    return words[:t] + replacement.split() + words[t + 1:]


def unread_words(asked: list[str], read: list[str]) -> list[str]:
    """The words of ``asked`` missing from ``read``, the words the model read of it (unknown words
    produce no states), each once."""
    missing = [w for tag, i1, i2, _, _ in difflib.SequenceMatcher(a=asked, b=read, autojunk=False).get_opcodes()
               if tag in ("delete", "replace") for w in asked[i1:i2]]
    return list(dict.fromkeys(missing))


class WordClicks(param.Parameterized):
    """Publishes the word of the text view clicked (``replacement`` empty) or double-clicked (the
    word typed to replace it)."""

    step = param.Integer(default=-1, doc="Step t of the word clicked.")
    replacement = param.String(default="", doc="What replaces it ('': the word is removed).")
    clicks = param.Integer(default=0, doc="Increments on every click, so a repeated one is seen.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.source = ColumnDataSource({"t": [], "word": [], "n": []}, name="word_clicks_src")
        self.source.on_change("data", self._received)

    def listen(self, text_figure, states: ColumnDataSource) -> None:
        """Hear the clicks on the words of ``text_figure``, laid out by ``states`` (each new figure)."""
        args = {"states": states, "clicks": self.source}
        text_figure.js_on_event("tap", CustomJS(args=args, code=_CLICK))
        text_figure.js_on_event("doubletap", CustomJS(args=args, code=_DOUBLE_CLICK))

    def _received(self, _attr, _old, new) -> None:
        if len(new.get("t", [])):
            self.param.update(step=int(new["t"][0]), replacement=str(new["word"][0]), clicks=self.clicks + 1)


class EditButtons(pn.viewable.Viewer):
    """"Edit this text" and "Clear ghost", beside the shown sequence's header."""

    ghost = param.Parameter(default=None, allow_refs=True, doc="The session's ghost (None: none).")

    def __init__(self, edit: Callable[[], None], clear: Callable[[], None], **params) -> None:
        super().__init__(**params)
        style = {"margin": (8, 4, 0, 4), "height": 30, "button_type": "light"}
        self.edit = pn.widgets.Button(name="Edit this text", width=104, description=(
            "Copy the shown sequence's words into the live input: click a word to remove it, "
            "double-click to replace it"), **style)
        self.clear = pn.widgets.Button(name="Clear ghost", width=92, disabled=self.ghost is None,
                                       description="Remove the faint trajectory of the text before the edit (Esc)",
                                       **style)
        self.edit.on_click(lambda _e: edit())
        self.clear.on_click(lambda _e: clear())
        # made once: a layout made anew by each __panel__ would leave the buttons' models to the last one
        self._layout = pn.Row(self.edit, self.clear, margin=0)

    @param.depends("ghost", watch=True)
    def _enable(self) -> None:
        # on the next tick: a widget's change made while the document is held (a selection's
        # patch) did not reach the page (Panel 1.9.4)
        pn.state.execute(lambda: setattr(self.clear, "disabled", self.ghost is None), schedule=True)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
