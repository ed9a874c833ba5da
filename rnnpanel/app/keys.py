"""Arrow keys and Esc for the whole page: a tiny browser component that reports key presses."""

from __future__ import annotations

import param
from panel.custom import JSComponent


class KeyListener(JSComponent):
    """Publishes navigation keys pressed anywhere on the page (not while typing in a field)."""

    key = param.String(default="", doc="The last navigation key pressed.")
    presses = param.Integer(default=0, doc="Increments on every press, so repeated keys are seen.")

    _esm = """
export function render({ model }) {
  const keys = ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Escape'];
  const handler = (event) => {
    const path = event.composedPath ? event.composedPath() : [event.target];
    const typing = path.some((el) => el && el.tagName && ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
    if (typing || !keys.includes(event.key)) { return; }
    model.key = event.key;
    model.presses = model.presses + 1;
    event.preventDefault();
  };
  document.addEventListener('keydown', handler);
  // the component renders a moment after the document itself: say when keys work (tests, benchmark)
  document.documentElement.dataset.rnnpanelKeys = 'ready';
  model.on('remove', () => {
    document.removeEventListener('keydown', handler);
    delete document.documentElement.dataset.rnnpanelKeys;
  });
  return document.createElement('span');
}
"""
