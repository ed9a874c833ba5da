"""Store → projection: project one layer's states of a stored entry, cached beside the states.

:func:`project_states` reads the states of one layer and kind, runs the requested method through
``auto`` or a named backend (with the scale strategy above a backend's size limit), and writes
the 2-D map with its ``fitted`` mask and the layer's step distances into the store, so the app
reads everything precomputed. The projection key covers the entry, layer, state kind, method,
requested backend and every parameter, so the second identical call is a cache hit that
returns at once. :func:`fitted_map` gives the estimator of a map this process fitted, so new
states (live input) can be placed by its own ``transform``.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
from rnnpanel.store import LayerStates, StateStore, StoredEntry, locks, projection_key
from rnnpanel.store.atomic import LOCK_PREFIX
from rnnpanel.store.disk_space import BLOCK_BYTES, METADATA_BYTES, check_room, telling_full_disk
from rnnpanel.store.locks import wait_seconds
from rnnpanel.store.state_kinds import known_kind
from rnnpanel.store.state_store import PROJECTIONS, ROW_CHUNK

if TYPE_CHECKING:
    from rnnpanel.compute.projection import AutoProjection, ProgressCallback

log = logging.getLogger(__name__)

PROJECTION_VERSION = 3  # bump when the stored arrays or their meaning change (2: IVF placement; 3: polished placement)
FITTED_KEPT = 2  # fitted maps kept in memory for placing live input (each holds its neighbour index)
_FITTED: LockedCache[AutoProjection] = LockedCache(FITTED_KEPT)


@dataclass(frozen=True)
class ProjectionResult:
    """A map of one layer's states: its 2-D ``embedding`` and what the store keeps with it.

    ``attrs`` are the stored attributes (method, backends, parameters, layer, ``state``,
    timings...); ``seconds_total`` and ``quality`` are this call's (None when not measured).
    """

    embedding: np.ndarray
    key: str
    attrs: dict[str, Any]
    cache_hit: bool
    seconds_total: float | None = None
    quality: dict[str, Any] | None = field(default=None)

    @property
    def method(self) -> str:
        return str(self.attrs["method"])

    @property
    def backend_used(self) -> str:
        return str(self.attrs.get("backend_used", ""))

    @property
    def layer(self) -> int:
        return int(self.attrs["layer"])

    @property
    def step_distance_max(self) -> float:
        """The normaliser of the stored step distances (new states' distances are divided by it)."""
        return float(self.attrs.get("step_distance_max") or 1.0)

    def summary(self) -> dict[str, Any]:
        """Everything as one JSON-friendly mapping (the CLI prints it)."""
        extra = {"seconds_total": self.seconds_total, "quality": self.quality}
        return {**self.attrs, "cache_hit": self.cache_hit, "projection_key": self.key,
                **{k: v for k, v in extra.items() if v is not None}}


def default_entry(store: StateStore) -> StoredEntry:
    """The only entry of the store, or the most recently created one."""
    entries = store.entries()
    if not entries:
        unreadable = store.unreadable()
        if unreadable:  # the one there is damaged: say so, rather than that there is none
            raise StoreError(next(iter(unreadable.values())))
        raise StoreError(f"store {store.root} has no entries; run `rnnpanel extract` first")
    if len(entries) > 1:
        log.info("store has %d entries; using the most recent, %s", len(entries), entries[-1].key)
    return entries[-1]


def state_labels(entry: StoredEntry) -> np.ndarray:
    """The true class of the sequence each state belongs to, ``(N,)``."""
    offsets = entry.load("offsets")
    return np.repeat(entry.load("labels"), np.diff(offsets))


def project_states(
    states: LayerStates,
    *,
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
    wait: float | None = None,
) -> ProjectionResult:
    """Project one layer's states of a stored entry, or read the map the store already holds.

    Parameters
    ----------
    states
        The states of one layer and kind (``store.entry(key).states(layer=..., kind=...)``).
    method, backend
        The projection method and its backend ("auto": the first that runs here).
    params
        Backend parameters (the shared names, see :mod:`rnnpanel.compute.projection.base`).
    max_fit
        The scale strategy's limit ("auto" = the backend's own).
    polish_iter
        t-SNE steps that move each placed state against the fixed fitted map (cheap; 0 = where
        its neighbours put it).
    refine_iter
        > 0 optimises all points for that many t-SNE iterations after the rest were placed (150
        brings a placed map's quality to a full fit's, at 9 to 24 times the placement's time:
        benchmarks/RESULTS.md).
    quality
        Add trustworthiness, k-NN preservation and neighbourhood hit (k = 10, on a 5,000-state subsample).
    progress
        True (a progress bar on stderr), a ``progress(fraction, message)`` callback, or None.
    cluster
        A Dask cluster (see :mod:`rnnpanel.pipeline.cluster`) whose workers place the points that
        were not fitted, instead of this process's threads.
    wait
        Seconds to wait for another process computing the same map (None: an hour,
        :data:`~rnnpanel.store.locks.DEFAULT_WAIT`; 0: refuse at once); its map is then read
        from the store, a cache hit. Meanwhile ``progress`` follows that process's progress.

    Returns
    -------
    ProjectionResult
        Stored arrays: ``embedding``, ``fitted`` (bool: fitted or placed), ``step_distance``
        (normalised by the sample maximum, NaN at sequence ends); its ``attrs`` hold
        ``backend_used``, ``skipped`` (name → reason), ``seconds_backend``, ``seconds_overhead``
        (everything but the backend and the metrics) and the resolved parameters.

    Raises
    ------
    BackendUnavailable
        No backend of ``method`` runs here (or the one named does not).
    ParameterError
        Parameters the backend refuses; :class:`~rnnpanel.compute.projection.base.NonFiniteStates`
        (a ``DataError`` too) for states with NaN or infinite values.
    StoreError
        Another process still computing the same map after ``wait`` seconds;
        :class:`~rnnpanel.store.disk_space.DiskFull` when the store's disk cannot hold the map
        (checked before computing it, and said so if the disk fills while it is written).
    """
    started = time.perf_counter()
    entry, store = states.entry, states.entry.store
    request = {"params": params, "max_fit": max_fit, "random_state": random_state, "polish_iter": polish_iter,
               "refine_iter": refine_iter}
    pkey = requested_key(states, method=method, backend=backend, **request)
    wait = wait_seconds(wait)

    if store.has_projection(entry.key, pkey):
        return _stored_map(states, pkey, quality=quality)
    label = f"{method} · layer {states.layer} · {states.kind}"
    what = f"the {method} map of layer {states.layer} {states.kind} of entry {entry.key}"
    with _map_lock(store, entry.key, pkey, wait=wait, progress=progress, label=label, what=what) as lock:
        if store.has_projection(entry.key, pkey):  # the process this one waited for stored it
            return _stored_map(states, pkey, quality=quality)
        folder = store.entry_path(entry.key) / PROJECTIONS
        check_room(folder, map_bytes(len(states)), what=what, where=f"the store {store.root}",
                   remedy="free some space, or move the store to another disk")
        return _compute_map(states, pkey, method=method, backend=backend, request=request, quality=quality,
                            progress=progress, cluster=cluster, lock=lock, label=label, what=what, started=started)


def _stored_map(states: LayerStates, pkey: str, *, quality: bool) -> ProjectionResult:
    """The map the store holds under ``pkey`` (a cache hit), with its quality measured if asked and not stored."""
    entry, store = states.entry, states.entry.store
    arrays, attrs = store.read_projection(entry.key, pkey)
    measured = attrs.get("quality") or None
    if quality and not measured:
        measured = stored_quality(states, arrays["embedding"], state_labels(entry))
    log.info("projection %s of entry %s: cache hit", pkey, entry.key)
    return ProjectionResult(arrays["embedding"], pkey, attrs, cache_hit=True, quality=measured)


def _compute_map(states: LayerStates, pkey: str, *, method: str, backend: str, request: dict[str, Any],
                 quality: bool, progress: Any, cluster: str | None, lock: Any, label: str, what: str,
                 started: float) -> ProjectionResult:
    """Fit the map (holding its lock), store it unless stopped early, and return it."""
    entry, store = states.entry, states.entry.store
    # torch and scikit-learn load only on a cache miss
    from rnnpanel.compute.projection import AutoProjection

    callback, close = progress_callback(progress, label)
    try:
        offsets = entry.load("offsets")
        labels = np.repeat(entry.load("labels"), np.diff(offsets))
        distances, distance_scale = normalize_by_max(stored_step_distances(states, offsets))
        runner = AutoProjection(method=method, backend=resolve_name(method, backend), params=request["params"],
                                max_fit=request["max_fit"], polish_iter=int(request["polish_iter"]),
                                refine_iter=int(request["refine_iter"]), random_state=request["random_state"],
                                progress=_publishing(lock, callback))
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
        "backend_requested": resolve_name(method, backend),
        "backend_used": runner.backend_used_,
        "skipped": dict(runner.skipped_),
        "params": json_safe(runner.params_used_),
        "request": json_safe(projection_request(kind=states.kind, **request)),
        "layer": states.layer,
        "state": states.kind,
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
        folder = store.entry_path(entry.key) / PROJECTIONS
        with telling_full_disk(folder, lambda free: (
                f"the disk holding the store {store.root} is full ({free} free): {what} was computed but could not "
                "be stored, and nothing of it was kept; free some space and run the same command again")):
            store.write_projection(entry.key, pkey, arrays, attrs)
        _remember(entry.key, pkey, runner)
    total = time.perf_counter() - started
    attrs["seconds_overhead"] = max(0.0, total - runner.seconds_)
    measured = stored_quality(states, embedding, labels) if quality else None
    return ProjectionResult(embedding, pkey, attrs, cache_hit=False, seconds_total=total, quality=measured)


def map_bytes(n_states: int) -> int:
    """What a stored map of ``n_states`` states takes, uncompressed: its embedding (two float32), the
    ``fitted`` mask and the step distances, one block more per chunk file, and its metadata."""
    chunks = -(-int(n_states) // ROW_CHUNK)
    return int(n_states) * (2 * 4 + 1 + 4) + 3 * chunks * BLOCK_BYTES + METADATA_BYTES


@contextmanager
def _map_lock(store: StateStore, entry_key: str, pkey: str, *, wait: float, progress: Any, label: str,
              what: str) -> Iterator[Any]:
    """Hold the lock of map ``pkey`` (a file beside its folder), waiting up to ``wait`` seconds for
    another process computing it; yields the lock file (None where the store cannot be written:
    then nobody can store the map there, so nobody is waited for)."""
    folder = store.entry_path(entry_key) / PROJECTIONS
    path = folder / f"{LOCK_PREFIX}{pkey}"
    on_wait, stop = _map_wait_reporter(progress, path, label)
    try:
        with telling_full_disk(folder, lambda free: f"the disk holding the store {store.root} is full ({free} free): "
                               f"{what} cannot be started; free some space and run the same command again"):
            folder.mkdir(parents=True, exist_ok=True)
            handle = locks.acquire(path, wait=wait, on_wait=on_wait)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        log.warning("cannot lock %s (%s): computing without it", path, exc)
        handle, path = None, None
    finally:
        stop()
    if path is not None and handle is None:
        raise StoreError(_busy_message(path, wait, what))
    try:
        yield handle
    finally:
        if path is not None:
            locks.release(handle, path, remove=True)


def _busy_message(path: Path, wait: float, what: str) -> str:
    if wait <= 0:
        return (f"another process is computing {what} right now; wait for it to finish (its map will be a cache hit: "
                "give --wait SECONDS), or stop it first")
    fraction = locks.published(path).get("fraction")
    done = f" ({100 * float(fraction):.0f}% done)" if isinstance(fraction, (int, float)) else ""
    return (f"waited {wait:g} s for another process computing {what}{done} and it is still running; wait longer "
            "with --wait SECONDS (0 refuses at once), or stop it first")


def _publishing(lock: Any, callback: ProgressCallback | None) -> ProgressCallback:
    """The fit's progress callback, also telling processes waiting for this map how far it is (in
    its lock file, at most twice a second)."""
    last = [0.0]

    def report(fraction: float, message: str = "") -> Any:
        now = time.monotonic()
        if now - last[0] >= 0.5:
            locks.publish(lock, fraction=float(fraction), message=str(message)[:200])
            last[0] = now
        return callback(fraction, message) if callback is not None else False

    return report


def _map_wait_reporter(progress: Any, path: Path, label: str) -> tuple[Callable[[float], None], Callable[[], None]]:
    """``(on_wait(seconds), stop)`` while another process computes the map whose lock is ``path``:
    its progress (what it publishes in the lock file) on a bar or the caller's callback, and a log line."""
    state: dict[str, Any] = {}

    def on_wait(seconds: float) -> None:
        status = locks.published(path)
        fraction = float(status.get("fraction") or 0.0)
        message = f"waiting for another process computing this map: {status.get('message') or 'starting'}"
        if not state:
            log.info("%s: waiting for another process computing the same map", label)
            state["callback"], state["close"] = progress_callback(progress, f"waiting for another process: {label}")
        if state["callback"] is not None:
            state["callback"](fraction, message)

    def stop() -> None:
        if state:
            state.pop("close")()
            state.clear()

    return on_wait, stop


def projection_request(*, kind: str = "h", params: dict[str, Any] | None = None, max_fit: Any = "auto",
                       random_state: int = 0, polish_iter: int = DEFAULT_POLISH_ITER,
                       refine_iter: int = 0) -> dict[str, Any]:
    """What, beside the entry, layer, method and backend, decides a stored map (checked): part of
    its key, and kept in its attributes."""
    known_kind(kind)
    for name, value in (("polish_iter", polish_iter), ("refine_iter", refine_iter)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} (--{name.replace('_', '-')}) must be 0 or a positive number of iterations, "
                             f"got {value!r}")
    return {"params": dict(params or {}), "max_fit": max_fit, "random_state": random_state,
            "version": PROJECTION_VERSION, **({"refine_iter": int(refine_iter)} if refine_iter else {}),
            **({"polish_iter": int(polish_iter)} if polish_iter != DEFAULT_POLISH_ITER else {})}


def requested_key(states: LayerStates, *, method: str = "tsne", backend: str = "auto", **request: Any) -> str:
    """The store key of the map :func:`project_states` makes for these arguments.

    Whether the store holds it says whether that map can be read without computing it: a map
    stored by another version of the placement, or with other parameters, is under another key.

    Parameters
    ----------
    states
        The layer's states, as given to :func:`project_states`.
    method, backend
        As for :func:`project_states` (an alias names its backend; "auto" stays "auto").
    **request
        The other arguments of :func:`project_states` that name a map (those of
        :func:`projection_request`: ``params``, ``max_fit``, ``random_state``, ``polish_iter``,
        ``refine_iter``).

    Returns
    -------
    str
        The projection key (:meth:`StateStore.has_projection` tells whether it is stored).

    Raises
    ------
    ValueError
        An unknown method, or a backend that is unknown or computes another method.
    """
    return projection_key(states.entry.key, layer=states.layer, state=states.kind, method=method,
                          backend=resolve_name(method, backend), params=projection_request(kind=states.kind, **request))


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
    from rnnpanel.compute.row_blocks import gather_rows

    rows = evaluation_subsample(int(embedding.shape[0]), DEFAULT_MAX_POINTS, 0)
    return projection_quality(np.asarray(gather_rows(states, rows)), embedding[rows], labels[rows], max_points=None)


def fitted_map(entry_key: str, projection_key: str) -> AutoProjection | None:
    """The map's fitted estimator when this process fitted it (its ``transform`` places new
    states exactly as the backend would), else None: a map read from the store has no estimator."""
    return _FITTED.get((entry_key, projection_key))


def _remember(entry_key: str, projection_key: str, runner: AutoProjection) -> None:
    """Keep the last few fitted maps of this process for :func:`fitted_map`."""
    _FITTED.put((entry_key, projection_key), runner)


def progress_callback(
    progress: bool | ProgressCallback | None, label: str
) -> tuple[ProgressCallback | None, Callable[[], None]]:
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
    if isinstance(value, np.ndarray):  # starting positions: named by their hash, as in the map's key
        import hashlib

        return {"array": list(value.shape), "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
