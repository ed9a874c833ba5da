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

import panel as pn

from rnnpanel.app.widgets import notify, on_session_loop
from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates

log = logging.getLogger(__name__)

#: The status line of a load that failed.
FAILED = "<p style='color:#a12622;margin:4px 0'>{}</p>"


def cannot_show(error: Exception) -> str:
    """The notification for an entry that cannot be shown: the store's own message, or, for any
    other error (a file that cannot be decoded: a damaged or half-copied entry), what happened
    and what to do."""
    if isinstance(error, RnnpanelError):
        return f"Cannot show this entry: {error}"
    log.warning("showing an entry failed", exc_info=error)
    return (f"Cannot show this entry ({type(error).__name__}: {error}). If its files are damaged or still being "
            "copied, re-extract it; other entries are unaffected.")


def shown_sample(open_states: Callable[[], EntryStates], method: str, report: Callable[[float, str], None]) -> Sample:
    """The sample of the states ``open_states()`` gives with their ``method`` map, the map computed
    first in a child process if the store lacks it."""
    states = open_states()
    states.store_map(method, report)
    return states.sample(method=method, progress=report)


class SampleLoader:
    """Loads samples, showing progress in ``progress`` and ``status``.

    A load that fails, here or in the child process computing a map, ends its progress at once:
    the bar is hidden and ``status`` says why instead of what was being computed (a status left
    saying "Starting a process…" reads as work that never ends), until the next load starts.
    ``failed(error)`` then tells the user (by default a notification); the session passes its own
    to act on a damaged entry (:mod:`rnnpanel.app.damaged_entries`).
    """

    def __init__(self, failed: Callable[[Exception], None] | None = None) -> None:
        self.progress = pn.indicators.Progress(value=0, max=100, visible=False, sizing_mode="stretch_width")
        self.status = pn.pane.HTML("", sizing_mode="stretch_width")
        self._failed = failed or (lambda error: notify(cannot_show(error)))

    def load_now(self, open_states: Callable[[], EntryStates], *, method: str) -> Sample | None:
        """The sample of the states ``open_states()`` gives with their ``method`` map, or None
        (``failed(error)`` is called)."""
        self._begin()
        try:
            sample = shown_sample(open_states, method, self._report)
        except Exception as exc:        # noqa: BLE001 -- a damaged entry must not take the page down
            self._end(exc)
            self._failed(exc)
            return None
        self._end(None)
        return sample

    def load_later(self, open_states: Callable[[], EntryStates], done: Callable[[Sample | None], None],
                   busy: pn.viewable.Viewable, *, method: str) -> None:
        """Load in a worker thread; progress and ``done(sample or None)`` come back to the session's
        event loop (``pn.state.execute``), so the page stays responsive meanwhile. ``busy`` shows
        Panel's loading spinner until then; a failure calls ``failed(error)`` before ``done(None)``."""
        on_loop = on_session_loop()

        def finish(sample: Sample | None, error: Exception | None) -> None:
            busy.loading = False
            self._end(error)
            if error is not None:
                self._failed(error)
            done(sample)

        def report(fraction: float, message: str = "") -> None:
            on_loop(partial(self._report, fraction, message))

        def work() -> None:
            try:
                sample = shown_sample(open_states, method, report)
            except Exception as exc:    # noqa: BLE001 -- reported in the page, as above
                on_loop(partial(finish, None, exc))
            else:
                on_loop(partial(finish, sample, None))

        self._begin()
        busy.loading = True
        threading.Thread(target=work, name="rnnpanel-load", daemon=True).start()

    def _begin(self) -> None:
        self.progress.param.update(value=0, visible=True)
        self.status.object = ""

    def _end(self, error: Exception | None) -> None:
        """The load is over: no progress; the status says why it failed, or nothing."""
        self.progress.visible = False
        self.status.object = "" if error is None else FAILED.format(html.escape(cannot_show(error)))

    def _report(self, fraction: float, message: str = "") -> None:
        self.progress.value = int(round(100 * max(0.0, min(1.0, fraction))))
        if message:
            self.status.object = html.escape(message)
