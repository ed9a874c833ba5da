"""Long work for a server done in a process of its own: a projection, a neighbour index.

Minutes of CPU and gigabytes of temporaries (a t-SNE of a whole corpus, the neighbour index of
millions of states) do not belong in the process that serves pages: there the memory would stay
with it (the allocator keeps it) and its threads would compete with the pages. In a spawned
child the memory is returned when the child ends, and the server then reads what the child stored
like anything else in the store. Progress and errors come back through a queue; a damaged entry
comes back as :class:`DamagedEntry` with its key, so that the server can mark that entry.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

from rnnpanel.compute.spawned import how_ended
from rnnpanel.errors import DamagedEntry, RnnpanelError

Report = Callable[[float, str], None]


def report_to(messages) -> Report:
    """In the child: a ``report(fraction, message)`` that sends progress to the parent."""
    return lambda fraction, message="": messages.put(("progress", float(fraction), str(message)))


def send_error(messages, exc: Exception) -> None:
    """In the child: tell the parent why the work failed (a user's message, or the exception's type;
    a damaged entry with its key)."""
    if isinstance(exc, DamagedEntry):
        messages.put(("damaged", str(exc), exc.key))
        return
    messages.put(("error", str(exc) if isinstance(exc, RnnpanelError) else f"{type(exc).__name__}: {exc}"))


def run_in_child(target: Callable[..., None], args: tuple[Any, ...], report: Report, *, name: str, what: str) -> None:
    """Run ``target(*args, messages)`` in a spawned process and wait for it, passing its progress
    to ``report``; raises :class:`RnnpanelError` with the child's message if it failed (a
    :class:`DamagedEntry` if it found the entry damaged), or if it ended without one (killed).
    ``what`` names the work for the user ("the t-SNE map")."""
    context = multiprocessing.get_context("spawn")     # a fresh interpreter: no server threads copied
    messages = context.Queue()
    child = context.Process(target=target, name=name, daemon=True, args=(*args, messages))
    report(0.0, f"Starting a process to compute {what}…")
    child.start()
    error = None
    while child.is_alive() or not messages.empty():
        try:
            kind, *value = messages.get(timeout=0.5)
        except queue.Empty:
            continue
        if kind == "progress":
            report(*value)
        elif kind == "error":
            error = RnnpanelError(value[0])
        elif kind == "damaged":
            error = DamagedEntry(value[0], key=value[1])
    child.join()
    if error is not None:
        raise error
    if child.exitcode != 0:
        raise RnnpanelError(f"the process computing {what} {how_ended(child.exitcode)} before it was done")
