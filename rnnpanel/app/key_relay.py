"""Arrow keys and Esc for the whole page, relayed to the session through a one-row Bokeh source.

The listener is a few lines of JavaScript run on the document's ``document_ready`` event, so it
is up as soon as the page is drawn: no custom component to load through an ES-module shim (that
took a fifth of a second of the first page load). A key press replaces the source's data, which
Bokeh sends to the server like any other property change.
"""

from __future__ import annotations

import weakref

import param
from bokeh.models import ColumnDataSource, CustomJS

KEYS = ("ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Escape")

# the keys wanted, then the listener: a plain string, as its braces are JavaScript's
_LISTEN = f"\nconst wanted = new Set({list(KEYS)});\n" + """\
document.addEventListener('keydown', (event) => {
  const path = event.composedPath ? event.composedPath() : [event.target];
  const typing = path.some((el) => el && el.tagName && ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
  if (typing || !wanted.has(event.key)) { return; }
  const n = keys.data.n.length ? keys.data.n[0] + 1 : 1;
  keys.data = {key: [event.key], n: [n]};
  event.preventDefault();
});
// say when keys work (tests and the latency benchmark wait for it)
document.documentElement.dataset.rnnpanelKeys = 'ready';
"""


class KeyListener(param.Parameterized):
    """Publishes navigation keys pressed anywhere on the page (not while typing in a field)."""

    key = param.String(default="", doc="The last navigation key pressed.")
    presses = param.Integer(default=0, doc="Increments on every press, so repeated keys are seen.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.source = ColumnDataSource({"key": [], "n": []}, name="keys_src")
        self.source.on_change("data", self._received)
        self._documents: weakref.WeakSet = weakref.WeakSet()

    def attach(self, doc) -> None:
        """Listen in the page that shows ``doc`` (once per document)."""
        if doc is None or doc in self._documents:
            return
        self._documents.add(doc)
        doc.add_root(self.source)
        doc.js_on_event("document_ready", CustomJS(args={"keys": self.source}, code=_LISTEN))

    def _received(self, _attr, _old, new) -> None:
        if new.get("key"):
            self.key = str(new["key"][0])
            self.presses += 1
