"""A projection computed in a process of its own, for a server (:mod:`.child_process`): a t-SNE
or PCA of a whole corpus needs gigabytes and minutes of CPU, which the server should not hold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rnnpanel.pipeline.child_process import report_to, run_in_child, send_error
from rnnpanel.pipeline.project import project_entry, requested_key
from rnnpanel.store import StateStore


def project_in_child(store_root: str, entry: str, choice: dict, messages) -> None:
    """In the child process: compute and store one projection, sending progress and any error."""
    try:
        store = StateStore(store_root)
        project_entry(store, store.open_entry(entry), progress=report_to(messages), **choice)
    except Exception as exc:        # noqa: BLE001 -- reported to the caller, which tells the user
        send_error(messages, exc)


def store_projection(store_root: str | Path, entry: str, report: Callable[[float, str], None], *, layer: int,
                     state: str, method: str) -> bool:
    """Compute and store the app's ``method`` map of one layer and state kind in a child process,
    unless the store already holds it under the key :func:`project_entry` would read.
    ``report(fraction, message)`` follows the child's progress; True if a map was computed.
    Raises :class:`RnnpanelError` with the child's message if it failed."""
    store = StateStore(store_root)
    if store.has_projection(entry, requested_key(store.open_entry(entry), layer=layer, state=state, method=method)):
        return False
    run_in_child(project_in_child, (str(store_root), entry, dict(layer=layer, state=state, method=method)), report,
                 name="rnnpanel-project", what=f"the {method} map")
    return True
