"""Loading a sample for the session: at once for the first page, in a worker thread afterwards (a
projection not yet in the store is computed there), with a progress bar and a status line."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import panel as pn
from rnnpanel.app.widgets import notify, on_session_loop
from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.load import load_sample
from rnnpanel.pipeline.sample import Sample


class SampleLoader:
    """Loads samples of one store, showing progress in ``progress`` and ``status``."""

    def __init__(self, store_root: Path) -> None:
        self.store_root = store_root
        self.progress = pn.indicators.Progress(value=0, max=100, visible=False, sizing_mode="stretch_width")
        self.status = pn.pane.HTML("", sizing_mode="stretch_width")

    def load_now(self, entry: str, **choice) -> Sample | None:
        """The sample of ``entry`` for ``choice`` (layer, state, method), or None with a notification."""
        try:
            return load_sample(self.store_root, entry, progress=self._report, **choice)
        except RnnpanelError as exc:
            notify(f"Cannot show this entry: {exc}")
            return None

    def load_later(self, entry: str, done: Callable[[Sample | None], None], busy: pn.viewable.Viewable,
                   **choice) -> None:
        """Load in a worker thread; progress and ``done(sample or None)`` come back to the session's
        event loop (``pn.state.execute``), so the page stays responsive meanwhile. ``busy`` shows
        Panel's loading spinner until then."""
        on_loop = on_session_loop()

        def finish(sample: Sample | None, error: RnnpanelError | None) -> None:
            self.progress.visible = False
            busy.loading = False
            self.status.object = ""
            if error is not None:
                notify(f"Cannot show this entry: {error}")
            done(sample)

        def work() -> None:
            try:
                sample = load_sample(self.store_root, entry,
                                     progress=lambda f, m="": on_loop(partial(self._report, f, m)), **choice)
            except RnnpanelError as exc:
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
