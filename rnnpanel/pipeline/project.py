"""Store → projection: project one layer's states of a stored entry, cached beside the states.

:func:`project_entry` reads the states of one layer and kind, runs the requested method through
``auto`` or a named backend (with the scale strategy above a backend's size limit), and writes
the 2-D map with its ``fitted`` mask and the layer's step distances into the store, so the app
reads everything precomputed. The projection key covers the entry, layer, state kind, method,
requested backend and every parameter, so the second identical call is a cache hit that
returns at once. :func:`fitted_map` gives the estimator of a map this process fitted, so new
states (live input) can be placed by its own ``transform``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnpanel.compute.distances import normalize_by_max, step_distances
from rnnpanel.compute.metrics import projection_quality
from rnnpanel.compute.projection.machine import library_versions
from rnnpanel.compute.projection.names import resolve_name
from rnnpanel.compute.projection.placement import DEFAULT_POLISH_ITER
from rnnpanel.errors import StoreError
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.store import StateStore, StoredEntry, projection_key
from rnnpanel.store.state_store import STATE_KINDS

if TYPE_CHECKING:
    from rnnpanel.compute.projection import AutoProjection, ProgressCallback

log = logging.getLogger(__name__)

PROJECTION_VERSION = 3  # bump when the stored arrays or their meaning change (2: IVF placement; 3: polished placement)
FITTED_KEPT = 2  # fitted maps kept in memory for placing live input (each holds its neighbour index)
_FITTED: LockedCache[AutoProjection] = LockedCache(FITTED_KEPT)


def open_store(store_root_or_store: str | Path | StateStore) -> StateStore:
    return store_root_or_store if isinstance(store_root_or_store, StateStore) else StateStore(store_root_or_store)


def default_entry(store: StateStore) -> StoredEntry:
    """The only entry of the store, or the most recently created one."""
    entries = store.entries()
    if not entries:
        raise StoreError(f"store {store.root} has no entries; run `rnnpanel extract` first")
    if len(entries) > 1:
        log.info("store has %d entries; using the most recent, %s", len(entries), entries[-1].key)
    return entries[-1]


def checked_entry(entry: Any) -> StoredEntry:
    """``entry`` if it is an opened entry; a key names the call that opens it (callers used to pass keys)."""
    if not isinstance(entry, StoredEntry):
        raise TypeError(f"entry must be an opened StoredEntry (store.open_entry(key)), got {type(entry).__name__} "
                        f"{entry!r}")
    return entry


def layer_index(entry: StoredEntry, layer: int) -> int:
    """``layer`` as a non-negative index (negative counts from the top), checked against the entry."""
    n_layers = int(entry.attrs["layers"])
    if not -n_layers <= int(layer) < n_layers:
        raise StoreError(f"layer {layer} out of range; this model has {n_layers} layer(s) (0..{n_layers - 1}, or -1 for the top)")
    return int(layer) % n_layers


def state_labels(entry: StoredEntry) -> np.ndarray:
    """The true class of the sequence each state belongs to, ``(N,)``."""
    offsets = entry.load("offsets")
    return np.repeat(entry.load("labels"), np.diff(offsets))


def project_entry(
    store_root_or_store: str | Path | StateStore,
    entry: StoredEntry | None = None,
    *,
    layer: int = -1,
    state: str = "h",
    method: str = "tsne",
    backend: str = "auto",
    params: dict[str, Any] | None = None,
    max_fit: Any = "auto",
    random_state: int = 0,
    polish_iter: int = DEFAULT_POLISH_ITER,
    refine_iter: int = 0,
    quality: bool = False,
    progress: bool | ProgressCallback | None = None,
    cluster: str | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Project one layer's states of a stored entry; return ``(embedding (N, 2) float32, attrs)``.

    ``entry``: an entry of the store, opened by the caller (who usually holds it already);
    None = the store's only or most recent entry. ``params`` are backend
    parameters (the shared names, see :mod:`rnnpanel.compute.projection.base`); ``max_fit``
    the scale strategy's limit ("auto" = the backend's own); ``polish_iter`` t-SNE steps move each
    placed state against the fixed fitted map (cheap; 0 = where its neighbours put it); ``refine_iter`` > 0 optimises all
    points for that many t-SNE iterations after the rest were placed (150 brings a placed map's
    quality to a full fit's, at 9 to 24 times the placement's time: benchmarks/RESULTS.md); ``quality`` adds trustworthiness,
    k-NN preservation and neighbourhood hit (k = 10, on a 5,000-state subsample). ``progress``
    is True (a progress bar on stderr), a ``progress(fraction, message)`` callback, or None.
    ``cluster`` (see :mod:`rnnpanel.pipeline.cluster`) places the points that were not fitted
    on that Dask cluster's workers instead of this process's threads.

    Stored arrays: ``embedding``, ``fitted`` (bool: fitted or placed), ``step_distance``
    (normalised by the sample maximum, NaN at sequence ends). ``attrs`` hold ``backend_used``,
    ``skipped`` (name → reason), ``seconds_backend``, ``seconds_overhead`` (everything but the
    backend and the metrics), the resolved parameters and ``cache_hit``.
    """
    started = time.perf_counter()
    store = open_store(store_root_or_store)
    entry = default_entry(store) if entry is None else checked_entry(entry)
    li = layer_index(entry, layer)
    backend_name = resolve_name(method, backend)
    request = projection_request(state=state, params=params, max_fit=max_fit, random_state=random_state,
                                 polish_iter=polish_iter, refine_iter=refine_iter)
    pkey = projection_key(entry.key, layer=li, state=state, method=method, backend=backend_name, params=request)

    if store.has_projection(entry.key, pkey):
        arrays, attrs = store.read_projection(entry.key, pkey)
        attrs = {**attrs, "cache_hit": True, "projection_key": pkey}
        if quality and not attrs.get("quality"):
            attrs["quality"] = stored_quality(state_matrix(entry, li, state), arrays["embedding"], state_labels(entry))
        log.info("projection %s of entry %s: cache hit", pkey, entry.key)
        return arrays["embedding"], attrs

    # torch and scikit-learn load only on a cache miss
    from rnnpanel.compute.projection import AutoProjection

    callback, close = progress_callback(progress, f"{method} · layer {li} · {state}")
    try:
        states = state_matrix(entry, li, state)
        offsets = entry.load("offsets")
        labels = np.repeat(entry.load("labels"), np.diff(offsets))
        distances, distance_scale = normalize_by_max(stored_step_distances(states, offsets))
        runner = AutoProjection(method=method, backend=backend_name, params=params, max_fit=max_fit,
                                polish_iter=int(polish_iter), refine_iter=int(refine_iter), random_state=random_state, progress=callback)
        if cluster is None:
            runner.fit(states, labels)
        else:
            from rnnpanel.pipeline.cluster import dask_client

            with dask_client(cluster) as client:
                runner.fit(states, labels, executor=client.get_executor())
    finally:
        close()
    embedding = runner.embedding_
    attrs: dict[str, Any] = {
        "entry_key": entry.key,
        "method": method,
        "backend_requested": backend_name,
        "backend_used": runner.backend_used_,
        "skipped": dict(runner.skipped_),
        "params": json_safe(runner.params_used_),
        "request": json_safe(request),
        "layer": li,
        "state": state,
        "n_states": int(embedding.shape[0]),
        "n_fitted": runner.n_fitted_,
        "placement": runner.placement_,
        "stopped_early": runner.stopped_early_,
        "step_distance_max": distance_scale,
        "seconds_backend": runner.seconds_,
        "timings": {k: round(v, 3) for k, v in getattr(runner.scaled_, "timings_", {}).items()},
        "cluster": cluster,
        "versions": library_versions(),
        "projection_version": PROJECTION_VERSION,
    }
    arrays = {"embedding": embedding, "fitted": runner.fitted_, "step_distance": distances}
    if runner.stopped_early_:
        log.warning("projection was stopped early; the partial result is returned but not cached")
    else:
        store.write_projection(entry.key, pkey, arrays, attrs)
        _remember(entry.key, pkey, runner)
    total = time.perf_counter() - started
    attrs["seconds_total"] = total
    attrs["seconds_overhead"] = max(0.0, total - runner.seconds_)
    if quality:
        attrs["quality"] = stored_quality(states, embedding, labels)
    return embedding, {**attrs, "cache_hit": False, "projection_key": pkey}


def projection_request(*, state: str = "h", params: dict[str, Any] | None = None, max_fit: Any = "auto",
                       random_state: int = 0, polish_iter: int = DEFAULT_POLISH_ITER,
                       refine_iter: int = 0) -> dict[str, Any]:
    """What, beside the entry, layer, method and backend, decides a stored map (checked): part of
    its key, and kept in its attributes."""
    if state not in STATE_KINDS:
        raise StoreError(f"unknown state kind {state!r}; choose one of {', '.join(STATE_KINDS)}")
    for name, value in (("polish_iter", polish_iter), ("refine_iter", refine_iter)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} (--{name.replace('_', '-')}) must be 0 or a positive number of iterations, "
                             f"got {value!r}")
    return {"params": dict(params or {}), "max_fit": max_fit, "random_state": random_state,
            "version": PROJECTION_VERSION, **({"refine_iter": int(refine_iter)} if refine_iter else {}),
            **({"polish_iter": int(polish_iter)} if polish_iter != DEFAULT_POLISH_ITER else {})}


def requested_key(entry: StoredEntry, *, layer: int = -1, state: str = "h", method: str = "tsne",
                  backend: str = "auto", **request: Any) -> str:
    """The store key of the map :func:`project_entry` makes for these arguments (``request``: those
    of :func:`projection_request`). Whether the store holds it says whether that map can be read
    without computing it: a map stored by another version of the placement, or with other
    parameters, is under another key."""
    return projection_key(entry.key, layer=layer_index(entry, layer), state=state, method=method,
                          backend=resolve_name(method, backend), params=projection_request(state=state, **request))


def state_matrix(entry: StoredEntry, layer: int, state: str) -> Any:
    """One layer's states as the projection reads them: the stored (on-disk, chunked) array for a
    whole state kind, read block by block; a direction's half (``*_fwd``/``*_bwd``) in memory."""
    if "_" in state or state not in entry.attrs["state_kinds"]:
        return entry.states(layer, state)  # a half, in memory; or the StoreError naming the stored kinds
    return entry.array(f"layer_{layer_index(entry, layer)}/{state}")


def stored_step_distances(states: Any, offsets: np.ndarray, *, block: int = 1 << 16) -> np.ndarray:
    """Raw step distances (NaN at sequence ends) of states read ``block`` rows at a time."""
    n = int(states.shape[0])
    out = np.full(n, np.nan, dtype=np.float32)
    for start in range(0, max(n - 1, 0), block):
        stop = min(start + block, n - 1)
        rows = np.asarray(states[start:stop + 1], dtype=np.float32)
        out[start:stop] = step_distances(rows, [0, len(rows)], normalize=False)[:-1]
    ends = offsets[1:][np.diff(offsets) > 0] - 1
    out[ends] = np.nan
    return out


def stored_quality(states: Any, embedding: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The map's quality metrics on their usual seeded subsample, gathering only those rows."""
    from rnnpanel.compute.metrics import DEFAULT_MAX_POINTS, evaluation_subsample
    from rnnpanel.compute.projection.placement import gather_rows

    rows = evaluation_subsample(int(embedding.shape[0]), DEFAULT_MAX_POINTS, 0)
    return projection_quality(np.asarray(gather_rows(states, rows)), embedding[rows], labels[rows], max_points=None)


def fitted_map(entry_key: str, projection_key: str) -> AutoProjection | None:
    """The map's fitted estimator when this process fitted it (its ``transform`` places new
    states exactly as the backend would), else None: a map read from the store has no estimator."""
    return _FITTED.get((entry_key, projection_key))


def _remember(entry_key: str, projection_key: str, runner: AutoProjection) -> None:
    """Keep the last few fitted maps of this process for :func:`fitted_map`."""
    _FITTED.put((entry_key, projection_key), runner)


def progress_callback(progress: bool | ProgressCallback | None, label: str) -> tuple[ProgressCallback | None, Callable[[], None]]:
    """A ``(callback, close)`` pair: True gives a tqdm bar in percent, a callable is used as is."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=100, desc=label, unit="%", bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}")

        def update(fraction: float, message: str) -> bool:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(message[:60], refresh=False)
            bar.refresh()
            return False

        return update, bar.close
    if not callable(progress):
        raise TypeError(f"progress must be True, False, None or a callable(fraction, message); got {progress!r}")
    return progress, lambda: None


def json_safe(value: Any) -> Any:
    """Parameters as JSON-friendly values for the store's attributes (anything else by its repr)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
