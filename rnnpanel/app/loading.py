"""Loading a sample for the session: at once for the first page, in a worker thread afterwards, with
a progress bar and a status line.

A projection not yet in the store (a new layer, state kind or method) is computed in a process
of its own, which stores it and reports its progress through a queue: a t-SNE of a whole corpus
needs gigabytes and minutes of CPU that must not be the server's (its other sessions stay
responsive, and the memory is returned when the process ends). The server then reads the stored
projection like any other.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import panel as pn

from rnnpanel.app.widgets import notify, on_session_loop
from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.load import load_sample
from rnnpanel.pipeline.project_process import store_projection
from rnnpanel.pipeline.sample import Sample

log = logging.getLogger(__name__)


def cannot_show(error: Exception) -> str:
    """The notification for an entry that cannot be shown: the store's own message, or, for any
    other error (a file that cannot be decoded: a damaged or half-copied entry), what happened
    and what to do."""
    if isinstance(error, RnnpanelError):
        return f"Cannot show this entry: {error}"
    log.warning("showing an entry failed", exc_info=error)
    return (f"Cannot show this entry ({type(error).__name__}: {error}). If its files are damaged or still being "
            "copied, re-extract it; other entries are unaffected.")


class SampleLoader:
    """Loads samples of one store, showing progress in ``progress`` and ``status``."""

    def __init__(self, store_root: Path) -> None:
        self.store_root = store_root
        self.progress = pn.indicators.Progress(value=0, max=100, visible=False, sizing_mode="stretch_width")
        self.status = pn.pane.HTML("", sizing_mode="stretch_width")

    def load_now(self, entry: str, **choice) -> Sample | None:
        """The sample of ``entry`` for ``choice`` (layer, state, method), or None with a notification."""
        try:
            store_projection(self.store_root, entry, self._report, **choice)
            return load_sample(self.store_root, entry, progress=self._report, **choice)
        except Exception as exc:        # noqa: BLE001 -- a damaged entry must not take the page down
            notify(cannot_show(exc))
            return None

    def load_later(self, entry: str, done: Callable[[Sample | None], None], busy: pn.viewable.Viewable,
                   **choice) -> None:
        """Load in a worker thread; progress and ``done(sample or None)`` come back to the session's
        event loop (``pn.state.execute``), so the page stays responsive meanwhile. ``busy`` shows
        Panel's loading spinner until then."""
        on_loop = on_session_loop()

        def finish(sample: Sample | None, error: Exception | None) -> None:
            self.progress.visible = False
            busy.loading = False
            self.status.object = ""
            if error is not None:
                notify(cannot_show(error))
            done(sample)

        def report(fraction: float, message: str = "") -> None:
            on_loop(partial(self._report, fraction, message))

        def work() -> None:
            try:
                store_projection(self.store_root, entry, report, **choice)
                sample = load_sample(self.store_root, entry, progress=report, **choice)
            except Exception as exc:    # noqa: BLE001 -- reported in the page, as above
                on_loop(partial(finish, None, exc))
            else:
                on_loop(partial(finish, sample, None))

        self.progress.visible = True
        busy.loading = True
        threading.Thread(target=work, name="rnnpanel-load", daemon=True).start()

    def _report(self, fraction: float, message: str = "") -> None:
        self.progress.value = int(round(100 * max(0.0, min(1.0, fraction))))
        if message:
            self.status.object = html.escape(message)

