"""Small pieces every component of the page uses: notifications, titled widgets, and acting once
per burst of events (keystrokes, hovers) rather than on each."""

from __future__ import annotations

import logging
from collections.abc import Callable

import panel as pn
from panel.io.state import set_curdoc

log = logging.getLogger(__name__)

BURST_DELAY_MS = 300          # typing and hovering are acted on this long after they start


def notify(message: str, level: str = "error") -> None:
    """A notification in the page (never a traceback); logged as well."""
    log.warning(message)
    if pn.state.notifications is not None:
        getattr(pn.state.notifications, level)(message, duration=8000)


def on_session_loop() -> Callable[[Callable[[], None]], None]:
    """A function a worker thread calls to run a callback on this session's event loop (where
    Bokeh models may change), made while still on it."""
    doc = pn.state.curdoc

    def run(callback: Callable[[], None]) -> None:
        if doc is None:
            callback()
            return
        with set_curdoc(doc):
            pn.state.execute(callback, schedule=True)

    return run


def titled(text: str, widget) -> list:
    """A bold title and the widget under it, to put in a column (radio button groups have no title
    of their own); no column of their own: every layout is a model more in each session."""
    return [pn.pane.HTML(f"<b>{text}</b>", margin=(6, 10, -6, 10)), widget]


def labelled(text: str, widget) -> pn.Column:
    """A widget under a bold title, in a column of its own (:func:`titled`)."""
    return pn.Column(*titled(text, widget))


class Debounced:
    """Calls ``callback`` once for a burst of calls: :data:`BURST_DELAY_MS` after the first. The
    callback reads the state as it is by then, so the burst's last event counts. Outside a
    server (no document) it runs at once. The document is the one calling, not the one it was made
    in: an app may be built ahead of its session (:mod:`rnnpanel.app.ready_apps`)."""

    def __init__(self, callback: Callable[[], None], delay_ms: int = BURST_DELAY_MS) -> None:
        self._callback, self._delay_ms = callback, delay_ms
        self._pending = False

    def __call__(self) -> None:
        doc = pn.state.curdoc
        if doc is None:
            self._callback()
            return
        if self._pending:
            return
        self._pending = True
        doc.add_timeout_callback(self._run, self._delay_ms)

    def _run(self) -> None:
        self._pending = False
        self._callback()
