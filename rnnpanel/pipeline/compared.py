"""What the app's compare view draws, made once per process and shared by every session.

A comparison (docs/design.md, "Comparison") is two entries over the same texts, one entry's two
layers, or an entry against the other checkpoints of its training run. The view draws two maps
side by side, so it needs two :class:`~rnnpanel.pipeline.sample.Sample` whose maps share one frame:

* **two entries or two layers** (:func:`compare_pair`): each map as the single view draws it (its
  ``method`` map, computed in a child process first if the store lacks it), B's rotated, scaled and
  shifted onto A's by orthogonal Procrustes on the states that correspond
  (:func:`~rnnpanel.pipeline.compare.corresponding_states`);
* **a run** (:func:`compare_run`): every checkpoint's map from the run's chain
  (:func:`~rnnpanel.pipeline.run_maps.project_run`: each epoch started from the next one's
  positions, so the maps are aligned as fitted; other methods than t-SNE are fitted one by one and
  aligned onto A's by Procrustes). The chain the store holds is found whatever options it was made
  with (``rnnpanel project --run RUN --max-iter 150`` included); a missing one is computed in a
  child process, with progress.

Each comes with the figures of :func:`~rnnpanel.pipeline.compare.compare_entries` and the
correspondence of sequences both ways. Nothing here imports Panel or Bokeh.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel.compute.comparison import PARTING_THRESHOLD, median_displacement, parting_steps, procrustes
from rnnpanel.errors import StoreError
from rnnpanel.pipeline.cache import LockedCache
from rnnpanel.pipeline.child_process import Report, report_to, run_in_child, send_error
from rnnpanel.pipeline.compare import (
    STEP,
    Pairing,
    compare_entries,
    corresponding_states,
    pair_entries,
    run_epochs,
    state_rows,
)
from rnnpanel.pipeline.load import map_sample
from rnnpanel.pipeline.project import DEFAULT_POLISH_ITER, PROJECTION_VERSION, ProjectionResult, requested_key
from rnnpanel.pipeline.sample import Sample
from rnnpanel.pipeline.states import EntryStates
from rnnpanel.store import StateStore, StoredEntry

log = logging.getLogger(__name__)

#: The value of the app's ``compare`` that compares an entry with the other checkpoints of its run.
RUN = "run"
#: Methods whose maps a run chains (the others are fitted one by one): as ``run_maps.CHAINED``.
CHAINED = ("tsne",)


def _quiet(fraction: float, message: str = "") -> None:
    """A progress report nobody follows."""


@dataclass(frozen=True, eq=False)
class ComparedPair:
    """Two maps in one frame and how their sequences correspond.

    ``a`` and ``b`` are the samples drawn (``b.xy`` already brought onto A's frame); ``b_of_a[i]``
    is the sequence of B that corresponds to A's sequence ``i`` (-1: none), ``a_of_b`` the reverse;
    ``parting[i]`` the first step where the two EP curves of A's sequence ``i`` part (-1: never, or
    not linked step by step); ``figures`` those of :func:`~rnnpanel.pipeline.compare.compare_entries`;
    ``alignment`` the median displacement of corresponding states (a fraction of A's diagonal) as
    fitted, once aligned by Procrustes (least squares, as ``rnnpanel compare`` reports it) and as
    drawn (:func:`drawn_onto`), the number of states it is measured on and ``how`` B was brought
    onto A ("procrustes", or "chained" for a run's t-SNE maps, which need nothing).
    """

    a: Sample
    b: Sample
    a_key: str
    b_key: str
    title_a: str
    title_b: str
    pairing: Pairing
    figures: dict[str, Any]
    b_of_a: np.ndarray
    a_of_b: np.ndarray
    parting: np.ndarray
    alignment: dict[str, Any]
    epoch_a: int | None = None
    epoch_b: int | None = None

    @property
    def link(self) -> str:
        return self.pairing.link

    def disagreeing(self) -> np.ndarray:
        """A's sequences the two models classify differently, in the ranking of ``figures``."""
        return np.array([d["index"] for d in self.figures["disagreements"]], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class ComparedRun:
    """An entry against every checkpoint of its run: ``pairs[epoch]`` is A against that epoch (A's
    sample the same in each), ``checkpoints`` the accuracy and the agreement with the run's last
    epoch per epoch, ``how`` "chained" (t-SNE) or "procrustes"."""

    run: str
    epoch_a: int
    pairs: dict[int, ComparedPair]
    checkpoints: list[dict[str, Any]]
    how: str

    @property
    def epochs(self) -> list[int]:
        return sorted(self.pairs)

    def default_epoch(self) -> int:
        """The epoch B shows first: the run's first, or its last when A is the first."""
        epochs = self.epochs
        return epochs[0] if epochs[0] != self.epoch_a or len(epochs) == 1 else epochs[-1]


# -- which entries ------------------------------------------------------------------------------
def run_of(entry: StoredEntry) -> str | None:
    """The training run (its folder) ``entry`` was extracted from: a checkpoint's run, the run itself
    when its folder keeps checkpoints (its best model), or a run of the store whose checkpoint has
    the same weights (the same model extracted from elsewhere: an extraction of identical weights
    over the same texts is one entry); None otherwise."""
    from rnnpanel.models.checkpoints import MANIFEST_FILE

    checkpoint = entry.attrs.get("checkpoint") or {}
    if checkpoint.get("run"):
        return str(checkpoint["run"])
    model_dir = entry.attrs.get("model_dir")
    if model_dir and (Path(model_dir) / MANIFEST_FILE).is_file():
        return str(model_dir)
    weights = entry.attrs.get("weights_sha256")
    runs = {str((e.attrs.get("checkpoint") or {}).get("run")) for e in entry.store.entries()
            if (e.attrs.get("checkpoint") or {}).get("run")}
    return next((run for run in sorted(runs) if weights in _run_weights(run)), None)


def _run_weights(run: str) -> frozenset[str]:
    """The weights hashes of a run's checkpoints, read once per version of its manifest."""
    from rnnpanel.models.checkpoints import MANIFEST_FILE

    try:
        stamp = (Path(run) / MANIFEST_FILE).stat().st_mtime_ns
    except OSError:
        return frozenset()
    return _RUN_WEIGHTS.get_or_make((run, stamp), lambda: frozenset(run_epochs(run)))


def side_title(entry: StoredEntry, layer: int, kind: str, epoch: int | None = None) -> str:
    """A map's title: the model (folder name, cell and size), the layer and state kind, the epoch."""
    cfg = entry.attrs.get("model_config", {})
    model = f"{entry.attrs.get('model_name', '?')} ({str(cfg.get('cell', '')).upper()}-{cfg.get('hidden_size', '?')})"
    return f"{model} · layer {layer} {kind}" + (f" · epoch {epoch}" if epoch is not None else "")


def _same_classes(a: StoredEntry, b: StoredEntry) -> None:
    if list(a.attrs["class_names"]) != list(b.attrs["class_names"]):
        raise StoreError(f"entries {a.key} and {b.key} predict other classes ({list(a.attrs['class_names'])} "
                         f"against {list(b.attrs['class_names'])}); compare models of the same task")


def _kind_of(entry: StoredEntry, kind: str) -> str:
    """``kind`` if the entry has it (an LSTM's c), else h."""
    return kind if kind in entry.state_choices else "h"


# -- two entries, or two layers -------------------------------------------------------------------
_PAIRS: LockedCache[ComparedPair] = LockedCache(8)
_RUN_WEIGHTS: LockedCache[frozenset] = LockedCache(16)
_RUNS: LockedCache[ComparedRun] = LockedCache(4)


def check_pair(store: StateStore, a_key: str, b_key: str) -> Pairing:
    """How ``a_key`` and ``b_key`` pair (quick: raises the reason they cannot be compared).

    Raises
    ------
    StoreError
        Not over the same texts, or models of other classes.
    """
    a, b = store.entry(a_key), store.entry(b_key)
    pairing = pair_entries(a, b)
    _same_classes(a, b)
    return pairing


def compare_pair(store: StateStore, a_key: str, b_key: str, *, layer_a: int, layer_b: int, kind: str = "h",
                 method: str = "tsne", threshold: float = PARTING_THRESHOLD,
                 report: Report | None = None) -> ComparedPair:
    """Entry ``a_key``'s ``layer_a`` against entry ``b_key``'s ``layer_b`` (the same entry twice:
    two layers), both drawn with their ``method`` map, B's aligned onto A's.

    Parameters
    ----------
    store
        The store holding both.
    a_key, b_key
        The entries (equal keys compare two layers of one entry).
    layer_a, layer_b
        Their layers (negative counts from the top).
    kind
        State kind of A (B's too when its model has it, else h).
    method
        The maps' method; a map the store lacks is computed in a child process.
    threshold
        Where two EP curves part (:func:`~rnnpanel.compute.comparison.parting_steps`).
    report
        ``report(fraction, message)`` while a map is computed.

    Returns
    -------
    ComparedPair
        Shared by every session of the process: callers must not change it.

    Raises
    ------
    StoreError
        Not the same texts, other classes, the same layer twice.
    RnnpanelError
        A map could not be computed (a :class:`~rnnpanel.errors.DamagedEntry` for a damaged entry).
    """
    a, b = store.entry(a_key), store.entry(b_key)
    states_a = EntryStates(a.states(layer=layer_a, kind=kind))
    states_b = EntryStates(b.states(layer=layer_b, kind=_kind_of(b, kind)))
    if a.key == b.key and states_a.layer == states_b.layer and states_a.kind == states_b.kind:
        raise StoreError(f"entry {a.key} against itself at layer {states_a.layer} {states_a.kind}: choose another "
                         "layer (or another entry) to compare with")
    key = (states_a.stored.address, states_b.stored.address, method, threshold)
    found = _PAIRS.get(key)
    if found is not None:
        return found
    pairing = check_pair(store, a.key, b.key)
    report = report or _quiet
    samples = []
    for name, states in (("A", states_a), ("B", states_b)):
        states.store_map(method, lambda f, m="", name=name: report(f, f"{name}: {m}" if m else ""))
        samples.append(states.sample(method=method))
    report(1.0, "Comparing the two models…")
    figures = compare_entries(a, b, threshold=threshold, layers=(states_a.layer, states_b.layer))
    pair = _pair(a, b, samples[0], samples[1], pairing, figures, align=True, threshold=threshold,
                 titles=(side_title(a, states_a.layer, states_a.kind), side_title(b, states_b.layer, states_b.kind)))
    return _PAIRS.put(key, pair)


def _spread(points: np.ndarray) -> float:
    """Root mean square distance of ``points`` from their centre."""
    points = np.asarray(points, dtype=np.float64)
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean())) if len(points) else 0.0


def drawn_onto(points_a: np.ndarray, points_b: np.ndarray, rotation: np.ndarray, xy_b: np.ndarray) -> np.ndarray:
    """Map B's positions ``xy_b`` as the compare view draws them: turned by Procrustes' ``rotation``
    (or reflection) fitted on the corresponding ``points_a``/``points_b``, centred on A's points
    and scaled to their spread. Procrustes' own least-squares scale shrinks B towards its centre
    the less the two maps agree (to nothing for unrelated maps), which reads as a smaller map;
    at equal spread the two maps are the same size and only the layout differs."""
    points_b = np.asarray(points_b, dtype=np.float64)
    spread_b = _spread(points_b)
    scale = _spread(points_a) / spread_b if spread_b > 0 else 1.0
    centre_a, centre_b = np.asarray(points_a, dtype=np.float64).mean(axis=0), points_b.mean(axis=0)
    return ((np.asarray(xy_b, dtype=np.float64) - centre_b) @ rotation * scale + centre_a).astype(np.float32)


def _pair(a: StoredEntry, b: StoredEntry, sample_a: Sample, sample_b: Sample, pairing: Pairing,
          figures: dict[str, Any], *, align: bool, threshold: float, titles: tuple[str, str],
          epochs: tuple[int | None, int | None] = (None, None)) -> ComparedPair:
    rows_a, rows_b = corresponding_states(a, b, pairing)
    points_a, points_b = sample_a.xy[rows_a], sample_b.xy[rows_b]
    fitted = median_displacement(points_a, points_b) if len(rows_a) else float("nan")
    if align and len(rows_a) >= 3:
        alignment = procrustes(points_a, points_b)
        aligned = median_displacement(points_a, alignment.apply(points_b))
        sample_b = dataclasses.replace(sample_b, xy=drawn_onto(points_a, points_b, alignment.rotation, sample_b.xy))
        drawn = median_displacement(points_a, sample_b.xy[rows_b])
        how = "procrustes"
    else:
        aligned = drawn = fitted
        how = "chained"
    b_of_a = np.full(sample_a.n_sequences, -1, dtype=np.int64)
    a_of_b = np.full(sample_b.n_sequences, -1, dtype=np.int64)
    b_of_a[pairing.seqs_a], a_of_b[pairing.seqs_b] = pairing.seqs_b, pairing.seqs_a
    parting = np.full(sample_a.n_sequences, -1, dtype=np.int64)
    if pairing.link == STEP and len(pairing):
        lengths = np.diff(sample_a.offsets)[pairing.seqs_a]
        offsets = np.r_[0, np.cumsum(lengths)]
        rows_a = state_rows(sample_a.offsets, pairing.seqs_a)
        rows_b = state_rows(sample_b.offsets, pairing.seqs_b)
        parting[pairing.seqs_a] = parting_steps(sample_a.ep[rows_a], sample_b.ep[rows_b], offsets, threshold)
    for array in (b_of_a, a_of_b, parting):
        array.setflags(write=False)     # shared by every session
    return ComparedPair(
        a=sample_a, b=sample_b, a_key=a.key, b_key=b.key, title_a=titles[0], title_b=titles[1], pairing=pairing,
        figures=figures, b_of_a=b_of_a, a_of_b=a_of_b, parting=parting,
        alignment={"how": how, "fitted": fitted, "aligned": aligned, "drawn": drawn, "states": int(len(points_a))},
        epoch_a=epochs[0], epoch_b=epochs[1])


# -- a run's checkpoints --------------------------------------------------------------------------
def checkpoints_over(store: StateStore, a: StoredEntry, run: str) -> list[tuple[int, StoredEntry]]:
    """``(epoch, entry)`` of the checkpoints of ``run`` extracted over ``a``'s sample, by epoch (as
    :func:`~rnnpanel.pipeline.compare.run_entries`, for an entry that may not record its run)."""
    epochs = run_epochs(run) or {e.attrs["weights_sha256"]: int(e.attrs["checkpoint"]["epoch"])
                                 for e in store.entries() if (e.attrs.get("checkpoint") or {}).get("run") == run}
    source, ids = (a.attrs.get("dataset_identity"), str(a.attrs.get("split"))), a.load("sequence_ids")
    found: dict[int, StoredEntry] = {}
    for e in store.entries():
        epoch = epochs.get(e.attrs.get("weights_sha256"))
        if epoch is not None and (e.attrs.get("dataset_identity"), str(e.attrs.get("split"))) == source \
                and np.array_equal(e.load("sequence_ids"), ids):
            found.setdefault(epoch, e)
    return sorted(found.items())


def chain_requests(final: StoredEntry, *, layer: int, kind: str, method: str) -> list[dict[str, Any]]:
    """How the maps of a run's chain may have been made, newest first: the request of every stored
    map of the last epoch's states (``method``, ``layer``, ``kind``, this projection version) that
    was not started from given positions; the app's own request last."""
    found = []
    for attrs in sorted(final.store.projections(final.key), key=lambda m: -float(m.get("created", 0))):
        request = attrs.get("request") or {}
        params = request.get("params") or {}
        if (attrs.get("method") != method or int(attrs.get("layer", -1)) != layer or attrs.get("state") != kind
                or request.get("version") != PROJECTION_VERSION or isinstance(params.get("init"), dict)):
            continue
        found.append({"backend": attrs.get("backend_requested", "auto"), "params": dict(params),
                      "max_fit": request.get("max_fit", "auto"), "random_state": request.get("random_state", 0),
                      "polish_iter": int(request.get("polish_iter", DEFAULT_POLISH_ITER)),
                      "refine_iter": int(request.get("refine_iter", 0))})
    default = {"backend": "auto", "params": {}, "max_fit": "auto", "random_state": 0,
               "polish_iter": DEFAULT_POLISH_ITER, "refine_iter": 0}
    return [r for i, r in enumerate(found) if r not in found[:i]] + ([default] if default not in found else [])


def stored_chain(entries: list[tuple[int, StoredEntry]], request: dict[str, Any], *, layer: int, kind: str,
                 method: str) -> dict[int, ProjectionResult]:
    """The run's maps the store holds for ``request``, as :func:`~rnnpanel.pipeline.run_maps.project_run`
    names them (each earlier epoch's key holds the next one's positions): from the last epoch back
    to the first one missing."""
    results: dict[int, ProjectionResult] = {}
    start = None
    rest = {k: v for k, v in request.items() if k not in ("backend", "params")}
    for epoch, entry in reversed(entries):
        states = entry.states(layer=layer, kind=kind)
        params = {**request["params"], "init": start} if start is not None and method in CHAINED else request["params"]
        key = requested_key(states, method=method, backend=request["backend"], params=params, **rest)
        if not entry.store.has_projection(entry.key, key):
            break
        arrays, attrs = entry.store.read_projection(entry.key, key)
        results[epoch] = ProjectionResult(arrays["embedding"], key, attrs, cache_hit=True)
        start = arrays["embedding"]
    return results


@dataclass(frozen=True)
class RunMapsJob:
    """What a child process needs to make a run's chained maps: the store, each checkpoint's entry
    by epoch, which states, and the request the chain is made with (a small value, plain to send)."""

    root: str
    entries: tuple[tuple[int, str], ...]
    layer: int
    kind: str
    method: str
    request: dict[str, Any]


def _run_maps_in_child(job: RunMapsJob, messages) -> None:
    """In a child process: the run's chained maps, computed where the store lacks them and stored."""
    from rnnpanel.pipeline.run_maps import project_run

    try:
        store = StateStore(job.root)
        entries = [(epoch, store.entry(key)) for epoch, key in job.entries]
        report, done = report_to(messages), [-1, ""]

        def say(message: str) -> None:
            done[0], done[1] = done[0] + 1, message
            report(done[0] / len(entries), message)

        def progress(fraction: float, message: str = "") -> None:
            report((done[0] + fraction) / len(entries), f"{done[1]}: {message}" if message else done[1])

        rest = {k: v for k, v in job.request.items() if k != "backend"}
        project_run(entries, layer=job.layer, kind=job.kind, method=job.method, backend=job.request["backend"],
                    say=say, progress=progress, **rest)
    except Exception as exc:        # noqa: BLE001 -- reported to the caller, which tells the user
        send_error(messages, exc)


def run_maps(store: StateStore, entries: list[tuple[int, StoredEntry]], *, layer: int, kind: str, method: str,
             report: Report | None = None) -> dict[int, ProjectionResult]:
    """Every checkpoint's map of the run, chained: the chain the store holds (with whatever options
    it was made), else the app's, computed in a child process where missing."""
    final = entries[-1][1]
    requests = chain_requests(final, layer=layer, kind=kind, method=method)
    for request in requests:
        chain = stored_chain(entries, request, layer=layer, kind=kind, method=method)
        if len(chain) == len(entries):
            return chain
    request = next((r for r in requests if stored_chain(entries[-1:], r, layer=layer, kind=kind, method=method)),
                   requests[-1])        # a chain begun: finish it
    job = RunMapsJob(str(store.root), tuple((epoch, entry.key) for epoch, entry in entries), layer, kind, method,
                     request)
    run_in_child(_run_maps_in_child, (job,), report or _quiet,
                 name="rnnpanel-run-maps", what=f"the {method} maps of the run's {len(entries)} checkpoints")
    chain = stored_chain(entries, request, layer=layer, kind=kind, method=method)
    if len(chain) != len(entries):
        raise StoreError("the run's maps were computed but not all of them are in the store; open it again")
    return chain


def compare_run(store: StateStore, a_key: str, *, layer: int, kind: str = "h", method: str = "tsne",
                threshold: float = PARTING_THRESHOLD, report: Report | None = None) -> ComparedRun:
    """Entry ``a_key`` (a checkpoint of a run, or the run's best model) against each checkpoint of
    its run extracted over the same sample, every map from the run's chain.

    Raises
    ------
    StoreError
        The entry is not of a run, or its run's other checkpoints are not extracted over its sample.
    RnnpanelError
        The maps could not be computed.
    """
    a = store.entry(a_key)
    run = run_of(a)
    if run is None:
        raise StoreError(f"entry {a.key} is not a checkpoint of a training run: train with `rnnpanel train "
                         "--checkpoints K` and extract with `rnnpanel extract --model RUN --checkpoints`")
    entries = checkpoints_over(store, a, run)
    if not entries:
        raise StoreError(f"entry {a.key}'s run {run} has no checkpoint extracted over its sample; run `rnnpanel "
                         f"extract --model {run} --checkpoints` with the same dataset, split, --n and --seed")
    if len(entries) < 2:
        raise StoreError(f"only one checkpoint of run {run} is extracted over this sample: nothing to compare it "
                         f"with; run `rnnpanel extract --model {run} --checkpoints` with the same --n and --seed")
    layer = a.states(layer=layer, kind=kind).layer
    key = (str(store.root.resolve()), a.key, tuple(e.key for _, e in entries), layer, kind, method, threshold)
    found = _RUNS.get(key)
    if found is not None:
        return found
    report = report or _quiet
    chain = run_maps(store, entries, layer=layer, kind=kind, method=method, report=report)
    by_epoch = dict(entries)
    epoch_a = next(epoch for epoch, e in entries if e.attrs.get("weights_sha256") == a.attrs.get("weights_sha256"))
    samples = {epoch: map_sample(by_epoch[epoch].states(layer=layer, kind=kind), chain[epoch]) for epoch in by_epoch}
    chained = method in CHAINED
    pairs, checkpoints = {}, []
    for done, (epoch, entry) in enumerate(entries):
        report(done / len(entries), f"Comparing epoch {epoch} with epoch {epoch_a}…")
        figures = compare_entries(a, entry, threshold=threshold, layers=(layer, layer))
        checkpoints = figures.get("checkpoints") or checkpoints
        pairs[epoch] = _pair(a, entry, samples[epoch_a], samples[epoch], pair_entries(a, entry), figures,
                             align=not chained and epoch != epoch_a, threshold=threshold,
                             titles=(side_title(a, layer, kind, epoch_a), side_title(entry, layer, kind, epoch)),
                             epochs=(epoch_a, epoch))
    return _RUNS.put(key, ComparedRun(run=run, epoch_a=epoch_a, pairs=pairs, checkpoints=checkpoints,
                                      how="chained" if chained else "procrustes"))


def extent(samples: list[Sample], pad: float = 0.04) -> tuple[tuple[float, float], tuple[float, float]]:
    """The x and y ranges holding every state of ``samples`` (the compare view's shared ranges)."""
    xy = [s.xy for s in samples if s.n_states]
    if not xy:
        return (-1.0, 1.0), (-1.0, 1.0)
    low = np.min([np.nanmin(p, axis=0) for p in xy], axis=0)
    high = np.max([np.nanmax(p, axis=0) for p in xy], axis=0)
    margin = np.maximum(high - low, 1e-6) * pad
    return ((float(low[0] - margin[0]), float(high[0] + margin[0])),
            (float(low[1] - margin[1]), float(high[1] + margin[1])))

