"""The session's side of a placed map's background refinement: start it, show its progress, swap the result in.

A whole corpus's t-SNE map is served placed (a sample fitted, the rest placed: minutes), and a
separate process refines it (:mod:`rnnpanel.pipeline.refined_map`). :class:`RefinedMapWatch`
starts that process when a session first shows a placed map (once per map and server process;
a process already refining it, started by another server or by ``rnnpanel project --refine``, is
joined instead), says in the sidebar how far it is, and when the refined map is stored, builds its
sample in a worker thread and hands it to the session (``swap``), which shows it in place of the
placed one, keeping the shown sequence, with a notification. Progress is read from the store
(the refining process publishes it in its lock file), so every session of every server sees the
same refinement.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from functools import partial

import panel as pn

from rnnpanel.app.widgets import notify, on_session_loop
from rnnpanel.pipeline.project import requested_key
from rnnpanel.pipeline.refined_map import (
    needs_refinement,
    refinement_status,
    start_refinement,
    stored_attrs,
)
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates

log = logging.getLogger(__name__)

#: How often a session looks at the refinement's progress (milliseconds).
POLL_MS = 2000
STATUS = ("<p style='color:#555;margin:4px 0;font-size:12px' class='refine-status'>"
          "<b>Refining this map</b> in the background ({percent}%): {message}. The placed map is shown until then.</p>")
SWAPPED = "The refined map of all {n:,} states replaced the placed map."


class RefinedMapWatch:
    """Follows the refinement of the placed map a session shows; ``swap(sample)`` shows the refined one.

    ``status`` is the sidebar's line about it (empty when nothing is being refined).
    """

    def __init__(self, swap: Callable[[Sample], None]) -> None:
        self._swap = swap
        self.status = pn.pane.HTML("", sizing_mode="stretch_width", name="refine-status")
        self._poll: pn.io.callbacks.PeriodicCallback | None = None
        self._followed: Sample | None = None

    def follow(self, states: EntryStates, method: str, sample: Sample) -> None:
        """The session now shows ``sample`` (``method`` map of ``states``): if it is a placed t-SNE
        map, start or join its refinement and follow it; else stop following."""
        self.stop()
        if method != "tsne":
            return
        placed = requested_key(states.stored, method=method)
        attrs = stored_attrs(states.stored, placed)
        if not needs_refinement(attrs):
            return
        self._followed = sample
        start_refinement(states.stored, placed)
        on_loop = on_session_loop()
        self._poll = pn.state.add_periodic_callback(partial(self._check, states, method, placed, sample, on_loop),
                                                    period=POLL_MS)
        self._check(states, method, placed, sample, on_loop)

    def stop(self) -> None:
        if self._poll is not None:
            self._poll.stop()
            self._poll = None
        self._followed = None
        self.status.object = ""

    def _check(self, states: EntryStates, method: str, placed: str, sample: Sample, on_loop) -> None:
        if self._followed is not sample:
            return
        status = refinement_status(states.stored, placed)
        if status.state == "running":
            self.status.object = STATUS.format(percent=int(100 * status.fraction),
                                               message=html.escape(status.message or "starting"))
        elif status.state == "none":      # not started, or its process ended unseen: start it (once per process)
            start_refinement(states.stored, placed)
            self.status.object = STATUS.format(percent=0, message="starting")
        elif status.state == "failed":
            self.stop()
            notify(f"This map could not be refined ({status.message}); the placed map stays.", level="warning")
        else:
            if self._poll is not None:
                self._poll.stop()
                self._poll = None
            self.status.object = STATUS.format(percent=100, message="loading the refined map")
            threading.Thread(target=self._load, args=(states, method, sample, on_loop), name="rnnpanel-refined",
                             daemon=True).start()

    def _load(self, states: EntryStates, method: str, placed_sample: Sample, on_loop) -> None:
        """In a worker thread: the refined map's sample (shared by every session), then the swap on the loop."""
        try:
            refined = states.sample(method=method)
        except Exception as exc:  # noqa: BLE001 -- the placed map stays; the user is told why
            log.warning("reading the refined map failed", exc_info=exc)
            on_loop(partial(self._failed, placed_sample, exc))
            return
        on_loop(partial(self._done, placed_sample, refined))

    def _done(self, placed_sample: Sample, refined: Sample) -> None:
        if self._followed is not placed_sample:     # the session moved on to another map meanwhile
            return
        self._followed = None
        self.status.object = ""
        if refined is placed_sample:                # it shows the refined map already
            return
        self._swap(refined)
        notify(SWAPPED.format(n=refined.n_states), level="info")

    def _failed(self, placed_sample: Sample, error: Exception) -> None:
        if self._followed is placed_sample:
            self.stop()
            notify(f"The refined map could not be read ({type(error).__name__}: {error}); the placed map stays.",
                   level="warning")
