"""A projection computed in a process of its own, for a server.

A t-SNE or PCA of a whole corpus needs gigabytes and minutes of CPU. In the server's process the
memory would stay with it (the allocator keeps it) and its threads would compete with the pages;
in a spawned child it is returned when the child ends, and the server then reads the stored map
like any other. Progress and errors come back through a queue.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from pathlib import Path

from rnnpanel.errors import RnnpanelError
from rnnpanel.pipeline.project import project_entry, requested_key
from rnnpanel.store import StateStore


def project_in_child(store_root: str, entry: str, choice: dict, messages) -> None:
    """In the child process: compute and store one projection, sending progress and any error."""
    try:
        store = StateStore(store_root)
        project_entry(store, store.open_entry(entry),
                      progress=lambda f, m="": messages.put(("progress", float(f), str(m))), **choice)
    except Exception as exc:        # noqa: BLE001 -- reported to the caller, which tells the user
        messages.put(("error", str(exc) if isinstance(exc, RnnpanelError) else f"{type(exc).__name__}: {exc}"))


def store_projection(store_root: str | Path, entry: str, report: Callable[[float, str], None], *, layer: int,
                     state: str, method: str) -> bool:
    """Compute and store the app's ``method`` map of one layer and state kind in a child process,
    unless the store already holds it under the key :func:`project_entry` would read.
    ``report(fraction, message)`` follows the child's progress; True if a map was computed.
    Raises :class:`RnnpanelError` with the child's message if it failed."""
    store = StateStore(store_root)
    if store.has_projection(entry, requested_key(store.open_entry(entry), layer=layer, state=state, method=method)):
        return False
    context = multiprocessing.get_context("spawn")     # a fresh interpreter: no server threads copied
    messages = context.Queue()
    child = context.Process(target=project_in_child, name="rnnpanel-project", daemon=True,
                            args=(str(store_root), entry, dict(layer=layer, state=state, method=method), messages))
    report(0.0, f"Starting a process to compute the {method} map…")
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
            error = value[0]
    child.join()
    if error is not None or child.exitcode != 0:
        raise RnnpanelError(error or f"the projection process ended with code {child.exitcode}")
    return True
