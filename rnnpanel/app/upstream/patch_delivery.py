"""Deliver the patches Panel queued for a page and then left unsent.

Panel writes a held update straight to the page's websocket or, while another write to that
socket is under way, queues it for a task that writes the queue once the socket is free
(``panel.io.document.schedule_write_events`` and ``_dispatch_msgs``). When an update is queued
while the previous task still awaits its own writes, that task then marks the page as having no
writer, and the task started for the new update, running just after, finds no writer marked and
returns: the update stays queued until the page's next one. Panel 1.9.4 does this, and its main
branch (August 2026) keeps the same order. With 23 sessions opened at once it left some of them
without an answer to their first selection: the text and heatmap never came, although the server
had handled the key (benchmarks/RESULTS.md, "Many users opening the app at once").

A sweep every :data:`SWEEP_MS` on the server's event loop restarts Panel's own writer for every
page that has a queue and no writer. It reads Panel's private queues (``_WRITE_MSGS`` in 1.9,
``_WRITE_EVENTS`` in the main branch, both by document); if a Panel release has neither, the
sweep says so in the log and does nothing.
"""

from __future__ import annotations

import logging
import weakref

log = logging.getLogger(__name__)

SWEEP_MS = 100
_sweeping: weakref.WeakSet = weakref.WeakSet()     # the event loops that sweep (one per server)


def _panel_queues():
    """Panel's queues and writer marks by document, and its writer task; None if absent."""
    from panel.io import document

    queued = getattr(document, "_WRITE_MSGS", None)
    if queued is None:
        queued = getattr(document, "_WRITE_EVENTS", None)
    names = ("_WRITE_BLOCK", "_dispatch_write_task", "_dispatch_msgs")
    if queued is None or not all(hasattr(document, name) for name in names):
        return None
    return queued, document._WRITE_BLOCK, document._dispatch_write_task, document._dispatch_msgs


def stranded(queued, writing) -> list:
    """The documents with queued messages and no writer."""
    return [doc for doc, messages in list(queued.items()) if messages and doc not in writing]


def deliver_stranded() -> int:
    """Restart Panel's writer for every document whose queue has no writer; how many."""
    panel = _panel_queues()
    if panel is None:
        return 0
    queued, writing, dispatch, write_queue = panel
    docs = stranded(queued, writing)
    for doc in docs:
        writing[doc] = True
        dispatch(doc, write_queue, doc)
    if docs:
        log.info("delivered the queued patches of %d page(s) that had no writer", len(docs))
    return len(docs)


def start_sweeping() -> None:
    """Sweep on the current event loop from now on (once per loop; call it from a served session,
    where the server's loop runs)."""
    from tornado.ioloop import IOLoop, PeriodicCallback

    loop = IOLoop.current()
    if loop in _sweeping:
        return
    _sweeping.add(loop)
    if _panel_queues() is None:
        log.warning("this Panel release has no write queues where rnnpanel looks: no sweep of unsent patches")
        return
    PeriodicCallback(deliver_stranded, SWEEP_MS).start()
