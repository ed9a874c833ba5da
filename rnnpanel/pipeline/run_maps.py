"""The maps of a training run's checkpoints, aligned so that the map moves only where the model did.

t-SNE places clusters anew on every fit, so independent maps of two epochs differ by rotations
and swaps that say nothing about the model. The run's last checkpoint is fitted first; each
earlier one then starts from the positions of the epoch after it (its states correspond step by
step: the same texts read by the same vocabulary), so a state moves from map to map only as far
as its neighbourhood changed. Each map is stored under its own key (the starting positions are
part of it), so a repeat is a cache hit and the chain is recomputed only from where it changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnpanel.errors import ModelError, StoreError
from rnnpanel.pipeline.project import ProjectionResult, project_states
from rnnpanel.store import StateStore, StoredEntry

#: Methods whose backends accept starting positions (others are fitted one by one).
CHAINED = ("tsne",)


def run_entries(store: StateStore, run: str) -> list[tuple[int, StoredEntry]]:
    """``(epoch, entry)`` of the run's checkpoints extracted into ``store`` over one sample, by epoch.

    Raises
    ------
    ModelError
        ``run`` is not a run with checkpoints.
    StoreError
        None of its checkpoints is extracted, or they are over different samples.
    """
    from rnnpanel.pipeline.compare import run_epochs

    epochs = run_epochs(run)
    if not epochs:
        raise ModelError(f"{run} is not a run with checkpoints; train it with `rnnpanel train --checkpoints K`")
    found = [(epochs[e.attrs["weights_sha256"]], e) for e in store.entries() if e.attrs.get("weights_sha256") in epochs]
    if not found:
        raise StoreError(f"no checkpoint of {run} is extracted in store {store.root}; run "
                         f"`rnnpanel extract --model {run} --checkpoints --dataset ...` first")
    samples = {(e.attrs.get("request_key"), e.attrs.get("n_states")) for _, e in found}
    newest = max(e.attrs.get("created", 0) for _, e in found)
    if len(samples) > 1:  # several samples extracted: keep the one extracted last
        last = next(e for _, e in found if e.attrs.get("created", 0) == newest)
        ids = last.load("sequence_ids")
        found = [(epoch, e) for epoch, e in found if np.array_equal(e.load("sequence_ids"), ids)]
    by_epoch: dict[int, StoredEntry] = {}
    for epoch, entry in found:
        by_epoch.setdefault(epoch, entry)
    return sorted(by_epoch.items())


def project_run(entries: list[tuple[int, StoredEntry]], *, layer: int = -1, kind: str = "h", method: str = "tsne",
                say: Any = None, **options: Any) -> dict[int, ProjectionResult]:
    """The map of every checkpoint, the last one fitted first, each earlier one started from the next.

    Parameters
    ----------
    entries
        ``(epoch, entry)`` of one run over one sample (:func:`run_entries`).
    layer, kind, method
        Which states and how they are mapped (methods other than t-SNE are fitted independently).
    say
        ``say(message)`` before each map (which epoch, how many remain).
    **options
        Passed to :func:`~rnnpanel.pipeline.project.project_states` (``backend``, ``params``,
        ``random_state``, ``progress``...).

    Returns
    -------
    dict
        Epoch → its map.
    """
    params = dict(options.pop("params", None) or {})
    results: dict[int, ProjectionResult] = {}
    start = None
    for done, (epoch, entry) in enumerate(reversed(entries)):
        if say is not None:
            say(f"map of epoch {epoch} ({done + 1} of {len(entries)})")
        chained = {**params, "init": start} if start is not None and method in CHAINED else params
        result = project_states(entry.states(layer=layer, kind=kind), method=method, params=chained, **options)
        results[epoch] = result
        start = result.embedding
    return dict(sorted(results.items()))
