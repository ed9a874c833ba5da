"""Model + corpus → one store entry of every state of a sample: the ``rnnpanel extract`` pipeline.

A request (model directory, dataset, split, sample size, seed) is fingerprinted *before*
anything heavy happens: the hashes of the model's three files (config, vocabulary, weights), the
dataset's identity (a registered corpus's pinned checksums and split recipe, or a user file's
content hash and columns), the split, ``n`` and ``seed``. An entry written for the same
fingerprint is a cache hit, returned without loading the corpus, the model or torch. Any change
of weights, vocabulary, window, data or sample gives a new fingerprint and so a new extraction.

The entry itself is keyed with :func:`rnnpanel.store.entry_key` by the weights hash, the source
of the token sequences (dataset identity + vocabulary), the split, the chosen sequence ids and
the window, so two requests that select the same sample share one entry.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel.data.corpus import SPLIT_CHOICES, SPLITS
from rnnpanel.data.registry import REGISTRY
from rnnpanel.data.resolve import check_split_applies
from rnnpanel.data.splitting import FileSplit
from rnnpanel.errors import DataError, ModelError
from rnnpanel.hashing import file_sha256
from rnnpanel.models.checkpoints import checkpoint_of
from rnnpanel.store import StateStore, StoredEntry, content_key, entry_key
from rnnpanel.store.disk_space import BLOCK_BYTES, telling_full_disk
from rnnpanel.store.locks import wait_seconds
from rnnpanel.store.state_store import chunk_rows_for

logger = logging.getLogger(__name__)

#: Bump when the way a sample is chosen or an entry is filled changes, so old fingerprints miss.
PIPELINE_VERSION = 1

_CONFIG_FILE = "config.json"
_VOCAB_FILE = "vocab.json"
_WEIGHTS_FILES = ("weights.safetensors", "weights.pt")  # the order load_model looks for them
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class ModelFiles:
    """Content hashes of a model directory's files, read without loading the model."""

    directory: Path
    config_sha256: str
    vocab_sha256: str
    weights_sha256: str


def extract_to_store(
    model_dir: str | Path,
    dataset: str,
    *,
    split: str = "test",
    n: int | None = None,
    seed: int = 0,
    store_root: str | Path,
    device: str = "auto",
    batch_size: int | None = None,
    progress: bool | Callable[[int, int], Any] | Any = True,
    text_column: str | None = None,
    label_column: str | None = None,
    file_split: FileSplit | None = None,
    cluster: str | None = None,
    chunk_states: int | None = None,
    wait: float | None = None,
) -> tuple[StoredEntry, dict[str, Any]]:
    """Extract the states of ``n`` sequences (all when ``None``) of ``dataset``'s ``split`` into the store.

    Returns the stored entry and a summary: ``n_sequences``, ``n_states``, ``layers``,
    ``hidden_size``, ``state_kinds``, ``seconds``, ``cache_hit``, ``entry`` (key), ``store``
    (path), ``device``, ``accuracy``. ``progress`` is ``True`` (a tqdm bar on stderr), ``False``,
    or a ``callback(done_states, total_states)`` / tqdm bar for the state extraction.
    Bad input raises :class:`DataError` or :class:`ModelError` before anything is written.

    ``split`` is ``train``, ``test`` or ``all`` (both; each sequence's split is kept in the entry's
    ``sequence_split``). States stream into the store ``chunk_states`` rows at a time (the unit a killed run
    resumes from; default: 65,536, fewer for wide models); ``cluster`` (``local[:N]``, ``local-cuda`` or a
    scheduler address, see :mod:`rnnpanel.pipeline.cluster`) runs the shards on Dask workers, which write
    their own rows: the entry is the same either way. ``file_split`` is how a user file's rows become train
    and test (``None``: the default 80/20 stratified split, seed 0).

    Another process writing the same entry is waited for, up to ``wait`` seconds (None: an hour,
    :data:`~rnnpanel.store.locks.DEFAULT_WAIT`; 0: refused at once), following its shards on the
    progress bar; its entry is then a cache hit. Before writing, the entry's uncompressed size is
    compared with the free space of the store's disk: a :class:`~rnnpanel.store.disk_space.DiskFull`
    (a ``StoreError``) refuses a disk too small before anything is written, and says so if the disk
    fills while writing, keeping the shards written so far for the same call to resume from.
    """
    start = time.perf_counter()
    _check_arguments(split=split, n=n, seed=seed, device=device, batch_size=batch_size)
    _check_streaming(cluster=cluster, chunk_states=chunk_states)
    wait = wait_seconds(wait)
    n, seed = (None if n is None else int(n)), int(seed)
    store = StateStore(store_root)
    files = model_files(model_dir)
    source = dataset_identity(dataset, text_column=text_column, label_column=label_column, file_split=file_split)
    if "unresolved" in source:  # neither registered nor a file: let the data layer say why, before any loading
        from rnnpanel.data import resolve_corpus

        resolve_corpus(dataset, text_column=text_column, label_column=label_column, split=file_split,
                       progress=False)
    request = content_key(
        "extract-request", version=PIPELINE_VERSION, config=files.config_sha256,
        vocab=files.vocab_sha256, weights=files.weights_sha256, source=source, split=split,
        n=n, seed=seed,
    )
    cached = find_request(store, request)
    if cached is not None:
        logger.info("cache hit: entry %s", cached.key)
        return cached, summary_of(cached, store, start, cache_hit=True)

    recorded = extraction_request(files.directory, dataset, split=split, n=n, seed=seed, batch_size=batch_size,
                                  chunk_states=chunk_states, text_column=text_column, label_column=label_column,
                                  file_split=file_split)
    entry, reused = _extract(files, dataset, source, request, store, split=split, n=n, seed=seed,
                             device=device, batch_size=batch_size, progress=progress,
                             text_column=text_column, label_column=label_column, file_split=file_split,
                             cluster=cluster, chunk_states=chunk_states, recorded=recorded, wait=wait)
    return entry, summary_of(entry, store, start, cache_hit=reused)


def _check_arguments(*, split: str, n: int | None, seed: int, device: str, batch_size: int | None) -> None:
    if split not in SPLIT_CHOICES:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CHOICES)}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise DataError(f"n (--n) must be a positive number of sequences, got {n!r}; leave it out to take all")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DataError(f"seed (--seed) must be an integer, got {seed!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise DataError(f"batch size (--batch-size) must be a positive integer, got {batch_size!r}")
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device.strip().lower()):
        raise DataError(f"unknown device {device!r}; choose one of auto, cpu, cuda (or cuda:N)")


def _check_streaming(*, cluster: str | None, chunk_states: int) -> None:
    from rnnpanel.pipeline.cluster import check_cluster

    check_cluster(cluster)
    if chunk_states is None:
        return
    if isinstance(chunk_states, bool) or not isinstance(chunk_states, (int, np.integer)) or chunk_states < 1:
        raise DataError(f"chunk size (--chunk-states) must be a positive number of states, got {chunk_states!r}")


def model_files(model_dir: str | Path) -> ModelFiles:
    """Hash the model directory's files; an incomplete directory gets load_model's own error."""
    directory = Path(model_dir).expanduser()
    weights = next((directory / f for f in _WEIGHTS_FILES if (directory / f).is_file()), None)
    config, vocab = directory / _CONFIG_FILE, directory / _VOCAB_FILE
    if weights is None or not config.is_file() or not vocab.is_file():
        load_model_at(directory)  # raises the ModelError that names the missing piece and the remedy
        raise ModelError(f"model directory {directory} is incomplete; point --model to a trained model directory")
    return ModelFiles(
        directory=directory,
        config_sha256=file_sha256(config),
        vocab_sha256=file_sha256(vocab),
        weights_sha256=file_sha256(weights),
    )


def dataset_identity(dataset: str, *, text_column: str | None, label_column: str | None,
                     file_split: FileSplit | None = None) -> dict[str, Any]:
    """What pins the dataset's content and split, computed without loading it.

    A registered corpus is pinned by its wheel and the files' checksums; a user file by the
    SHA-256 of its content, the chosen columns and the split (:meth:`FileSplit.identity`: the
    default's is the ``{"test_fraction": 0.2, "seed": 0}`` stored entries were always keyed with).
    Anything else is left to :func:`rnnpanel.data.resolve_corpus`, which will refuse it with the
    right message.
    """
    check_split_applies(dataset, file_split)  # before a cache lookup could ignore the options
    if dataset in REGISTRY:
        spec = REGISTRY[dataset]
        return {
            "registered": spec.name, "requirement": spec.requirement,
            "files": {f.role: f.sha256 for f in spec.files},
            "split": {"official": spec.official_split, "test_fraction": spec.test_fraction, "seed": spec.seed},
        }
    path = Path(dataset).expanduser()
    if path.is_file():
        return {
            "file_sha256": file_sha256(path), "suffix": path.suffix.lower(),
            "text_column": text_column, "label_column": label_column,
            "split": (file_split or FileSplit()).identity(),
        }
    return {"unresolved": dataset}


def find_request(store: StateStore, request: str) -> StoredEntry | None:
    """The complete entry written for this request fingerprint, if any."""
    for entry in store.entries():
        if entry.attrs.get("request_key") == request:
            return entry
    return None


def choose_sample(n_available: int, n: int | None, seed: int) -> np.ndarray:
    """Positions of the sample among ``n_available`` sequences, in increasing order.

    All of them when ``n`` is ``None`` or not smaller; otherwise ``n`` drawn without
    replacement by a generator seeded with ``seed`` (the same seed gives the same sample).
    """
    if n is None or n >= n_available:
        return np.arange(n_available, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_available, size=int(n), replace=False)).astype(np.int64)


def _extract(
    files: ModelFiles, dataset: str, source: dict, request: str, store: StateStore, *, split: str,
    n: int | None, seed: int, device: str, batch_size: int | None, progress: Any,
    text_column: str | None, label_column: str | None, file_split: FileSplit | None, cluster: str | None,
    chunk_states: int | None, recorded: dict[str, Any], wait: float = 0.0,
) -> tuple[StoredEntry, bool]:
    """Load, sample, then stream the states into the store shard by shard; returns the entry and
    whether it was already stored. A run killed earlier (or stopped by a full disk) for the same
    entry is resumed; one running now is waited for, up to ``wait`` seconds."""
    # torch and the corpus are needed only now, on a cache miss
    from rnnpanel.compute.device import resolve_device

    read_started = time.perf_counter()
    target = resolve_device(device)
    loaded = load_model_at(files.directory)
    if loaded.weights_sha256 != files.weights_sha256:
        raise ModelError(f"the weights in {files.directory} changed while extracting; run the command again")
    config = loaded.config
    corpus, sample, sequence_ids, n_available = read_sample(
        loaded, dataset, files.directory, split=split, n=n, seed=seed, text_column=text_column,
        label_column=label_column, file_split=file_split, progress=progress)
    key = sample_key(loaded, files, source, split=split, sequence_ids=sequence_ids)
    if store.entry_path(key).is_dir():  # another request chose the same sample (or its metadata is damaged)
        logger.info("entry %s already stored", key)
        return store.entry(key), True

    if chunk_states is None:
        chunk_states = chunk_rows_for(4 * max(config.state_size, config.n_classes))
    started = time.perf_counter()
    stages: dict[str, float] = {"read_tokenise": started - read_started}
    on_wait, stop_waiting = _wait_reporter(progress, key)
    partial = partial_entry_for(store, key, config, sample, batch_size=batch_size, chunk_states=chunk_states,
                                request={**recorded, "chunk_states": chunk_states}, wait=wait, on_wait=on_wait,
                                words=loaded.vocab.words)
    try:
        with telling_full_disk(store.entries_dir, lambda free: _full_disk_message(store, partial, free)), partial:
            stop_waiting()
            if partial.already_stored:  # the process this one waited for wrote it
                return store.entry(key), True
            probs, shard_stages = stream_states(partial, files, sample, device=device, batch_size=batch_size,
                                                progress=progress, cluster=cluster, chunk_states=chunk_states)
            seconds = time.perf_counter() - started
            stages.update(shard_stages, shards_wall=seconds)
            entry = commit_entry(store, partial, files, loaded, corpus, sample, probs, sequence_ids, source,
                                 request, split=split, n=n, seed=seed, n_available=n_available, target=target,
                                 cluster=cluster, seconds=seconds, stages=stages)
    finally:
        stop_waiting()
    logger.info("stored %d states of %d sequences as entry %s", sample.n_tokens, sample.n_sequences, key)
    return entry, False


def read_sample(loaded, dataset: str, model_dir: Path, *, split: str, n: int | None, seed: int,
                text_column: str | None = None, label_column: str | None = None,
                file_split: FileSplit | None = None, progress: Any = False):
    """The corpus, the sample's token ids (:class:`~rnnpanel.models.encoding.EncodedTexts`), its
    sequence ids in the split and the number of sequences it was drawn from: what an extraction
    reads (and what a repair reads again)."""
    from rnnpanel.data import resolve_corpus
    from rnnpanel.models.encoding import encode_flat

    corpus = resolve_corpus(dataset, text_column=text_column, label_column=label_column, split=file_split,
                            progress=progress is not False)
    _check_classes(loaded.config, corpus, dataset, model_dir)
    encoded = encode_flat(_tokenising(corpus.split(split).texts, progress), loaded.vocab, loaded.config)
    kept_rows = np.flatnonzero(encoded.kept)
    if len(kept_rows) == 0:
        raise DataError(
            f"no text of {dataset}'s {split} split has a word the model knows; "
            "extract with the dataset the model was trained on"
        )
    picked = choose_sample(len(kept_rows), n, seed)
    sample = encoded if len(picked) == len(kept_rows) else encoded.subset(picked)
    return corpus, sample, kept_rows[picked], len(kept_rows)


def sample_key(loaded, files: ModelFiles, source: dict, *, split: str, sequence_ids: np.ndarray) -> str:
    """The entry key of a sample of a registered corpus or user file read by this model."""
    config = loaded.config
    return entry_key(
        weights_sha256=loaded.weights_sha256,
        dataset=content_key("sequence-source", dataset=source, vocab=files.vocab_sha256),
        split=split, sequence_ids=sequence_ids, max_length=config.max_length, truncation=config.truncation,
    )


def commit_entry(store: StateStore, partial, files: ModelFiles, loaded, corpus, sample, probs: np.ndarray,
            sequence_ids: np.ndarray, source: dict, request: str, *, split: str, n: int | None, seed: int,
            n_available: int, target: Any, cluster: str | None, seconds: float, stages: dict) -> StoredEntry:
    """The per-sequence arrays and attributes that complete the entry; then the entry is committed."""
    config = loaded.config
    import resource

    committing = time.perf_counter()
    chosen_split = corpus.split(split)
    labels = np.asarray(chosen_split.labels, dtype=np.int64)[sequence_ids]
    predictions = probs.argmax(axis=1).astype(np.int64)
    per_sequence = {
        "offsets": sample.offsets,
        "labels": labels,
        "predictions": predictions,
        "probs": probs,
        "sequence_ids": sequence_ids.astype(np.int64),
        "sequence_split": corpus.split_origin(split)[sequence_ids],
        "n_cut": sample.n_cut,
    }
    attrs = {
        "model_dir": str(files.directory.resolve()),
        "model_name": files.directory.resolve().name,
        "weights_sha256": loaded.weights_sha256,
        "vocab_sha256": files.vocab_sha256,
        "model_config": config.to_dict(),
        "dataset": corpus.name,
        "dataset_identity": source,
        "split": split,
        "split_names": list(SPLITS),
        "sample": {"n": n, "seed": seed, "n_available": n_available,
                   "n_dropped_empty": int(len(chosen_split) - n_available)},
        "request_key": request,
        "n_sequences": sample.n_sequences,
        "n_states": sample.n_tokens,
        "layers": config.num_layers,
        "hidden_size": config.hidden_size,
        "state_size": config.state_size,
        "state_kinds": list(_state_kinds(config)),
        "bidirectional": config.bidirectional,
        "class_names": list(corpus.class_names),
        "truncation": config.truncation,
        "max_length": config.max_length,
        "accuracy": float(np.mean(predictions == labels)),
        "device": str(target),
        "cluster": cluster,
        "resumed": partial.resumed,
        **({"checkpoint": checkpoint} if (checkpoint := checkpoint_of(files.directory)) else {}),
        "extraction_seconds": seconds,
        "created": time.time(),
        **({"request": partial.request} if partial.request else {}),
    }
    entry = store.commit_partial(partial, per_sequence, attrs, list(loaded.vocab.words))
    stages = {name: round(value, 3) for name, value in {**stages, "commit": time.perf_counter() - committing}.items()}
    stages["peak_rss_mb"] = round(max(stages.get("peak_rss_mb", 0.0),
                                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), 1)
    entry.attrs["stages"] = stages  # this run's timings, reported in the summary (not stored)
    return entry


def _state_kinds(config) -> tuple[str, ...]:
    return ("h", "c") if config.cell == "lstm" else ("h",)


def partial_entry_for(store: StateStore, key: str, config, sample, *, batch_size: int | None, chunk_states: int,
                      request: dict[str, Any] | None = None, wait: float = 0.0,
                      on_wait: Callable[[int, int], Any] | None = None, words: list[str] | None = None):
    """The entry's partial folder: every per-state array, empty, one chunk per shard. ``request``
    (:func:`extraction_request`) is kept with it: the command that resumes it, the data that repairs it.
    ``wait`` and ``on_wait`` are :class:`~rnnpanel.store.partial.PartialEntry`'s: how long to wait for
    another process writing the entry. ``words`` (the vocabulary) sizes the entry's word list for its
    estimate (None: guessed from the vocabulary's size)."""
    n_states, width, classes = sample.n_tokens, config.state_size, config.n_classes
    layout = {"token_ids": ((n_states,), "int32"), "ep": ((n_states, classes), "float32")}
    for layer in range(config.num_layers):
        for kind in _state_kinds(config):
            layout[f"layer_{layer}/{kind}"] = ((n_states, width), "float32")
    plan = {"n_sequences": sample.n_sequences, "batch_size": batch_size, "version": PIPELINE_VERSION}
    partial = store.partial_entry(key, layout, chunk_rows=chunk_states, plan=plan, request=request)
    partial.wait, partial.on_wait = float(wait), on_wait
    partial.extra_bytes = beside_states_bytes(sample.n_sequences, classes, n_shards=partial.n_shards,
                                              chunk_rows=chunk_states, words=words,
                                              vocab_size=config.vocab_size)
    return partial


def beside_states_bytes(n_sequences: int, n_classes: int, *, n_shards: int, chunk_rows: int,
                        words: list[str] | None, vocab_size: int) -> int:
    """What an entry stores beside its per-state arrays, uncompressed: the per-sequence arrays of
    :func:`commit_entry` (six of 8 bytes a sequence, and the probabilities), the shards' results
    (the probabilities again, one file a shard) and the word list."""
    sequence_chunks = -(-int(n_sequences) // max(1, int(chunk_rows)))
    per_sequence = int(n_sequences) * (6 * 8 + 4 * n_classes) + 8 + 7 * sequence_chunks * BLOCK_BYTES
    results = int(n_sequences) * 4 * n_classes + int(n_shards) * (BLOCK_BYTES + 1024)
    vocabulary = len(json.dumps(list(words)).encode()) if words is not None else 32 * int(vocab_size)
    return per_sequence + results + vocabulary


def _full_disk_message(store: StateStore, partial, free: str) -> str:
    """The one line for a disk that filled while writing ``partial``: what is kept, and how to go on."""
    done, total = len(partial.done()), partial.n_shards
    if not partial.path.exists():
        kept = "nothing of it was written"
    elif done == total:
        kept = f"all {total} of its shards are written and kept, only completing it failed"
    else:
        kept = f"the {done} of its {total} shards written so far are kept ({partial.path})"
    return (f"the disk holding the store {store.root} is full ({free} free) while writing entry {partial.key}: "
            f"{kept}; free some space and run the same command again: it resumes where this one stopped")


def _wait_reporter(progress: Any, key: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """``(on_wait(done_shards, total_shards), stop)`` while waiting for another process writing
    entry ``key``: a tqdm bar of its shards on the terminal (``progress=True``), else one log line."""
    bar: list[Any] = []

    def on_wait(done: int, total: int) -> None:
        if not bar:
            logger.info("waiting for another process writing entry %s (%d of %d shards written)", key, done, total)
            if progress is not True:
                bar.append(None)
                return
            from tqdm import tqdm

            bar.append(tqdm(total=total, desc=f"waiting for another process writing entry {key[:12]}",
                            unit="shard", leave=False, dynamic_ncols=True))
        if bar[0] is not None:
            bar[0].n = max(bar[0].n, done)  # its shard files go when it completes the entry
            bar[0].refresh()

    def stop() -> None:
        if bar and bar[0] is not None:
            bar[0].close()
        bar[:] = [None] if bar else []

    return on_wait, stop


def extraction_request(model_dir: str | Path, dataset: str, *, split: str, n: int | None, seed: int,
                       batch_size: int | None, chunk_states: int | None, text_column: str | None = None,
                       label_column: str | None = None, file_split: FileSplit | None = None) -> dict[str, Any]:
    """The arguments of an extraction, as kept with its entry: what resumes it and what repairs it
    (paths made absolute, so the command works from any folder)."""
    from dataclasses import asdict

    path = Path(dataset).expanduser()
    return {"model": str(Path(model_dir).expanduser().resolve()),
            "dataset": dataset if dataset in REGISTRY or not path.exists() else str(path.resolve()),
            "split": split, "n": n, "seed": seed, "batch_size": batch_size, "chunk_states": chunk_states,
            "text_column": text_column, "label_column": label_column,
            "file_split": None if file_split is None else asdict(file_split)}



def stream_states(partial, files: ModelFiles, sample, *, device: str, batch_size: int | None, progress: Any,
                   cluster: str | None, chunk_states: int) -> tuple[np.ndarray, dict[str, float]]:
    """Extract every shard not yet written into the partial entry; return the model's
    probabilities per sequence, read back from the shards' results, and the seconds spent
    extracting and writing (summed over shards: worker-seconds on a cluster)."""
    from rnnpanel.pipeline.shards import plan_shards, run_shard, shard_tasks

    shards = plan_shards(sample.offsets, chunk_states)
    done = partial.done()
    tasks = shard_tasks([s for s in shards if s.index not in done], sample.token_ids, sample.offsets,
                        model_dir=str(files.directory), weights_sha256=files.weights_sha256,
                        partial_path=str(partial.path), device=device, batch_size=batch_size)
    bar = _progress_bar(progress, total=sample.n_tokens)
    report = _reporter(progress, bar, total=sample.n_tokens)
    report(sum(s.n_states for s in shards if s.index in done))
    stages = {"extract": 0.0, "write": 0.0, "workers_peak_rss_mb": 0.0}

    def finished(result: dict[str, Any]) -> None:
        stages["extract"] += result["seconds_extract"]
        stages["write"] += result["seconds_write"]
        stages["workers_peak_rss_mb"] = max(stages["workers_peak_rss_mb"], result["peak_rss_mb"])
        report(result["n_states"])

    try:
        if cluster is None:
            for task in tasks:
                finished(run_shard(task))
        else:
            _run_on_cluster(cluster, tasks, finished)
    finally:
        if bar is not None:
            bar.close()
    if cluster is None:
        del stages["workers_peak_rss_mb"]  # the same process: reported as the run's peak
    return np.concatenate([partial.results(s.index)["probs"] for s in shards]), stages


def _run_on_cluster(spec: str, tasks: list, finished: Callable[[dict[str, Any]], None]) -> None:
    """Each Dask worker runs whole shards (loading the model once) and writes its own rows."""
    from distributed import as_completed

    from rnnpanel.pipeline.cluster import dask_client
    from rnnpanel.pipeline.shards import run_shard

    if not tasks:
        return
    with dask_client(spec) as client:
        futures = client.map(run_shard, tasks, pure=False)
        for future in as_completed(futures):
            finished(future.result())


def _tokenising(texts, progress: Any):
    """The texts, behind a tqdm bar when progress is shown on the terminal."""
    if progress is not True:
        return texts
    from tqdm import tqdm

    return tqdm(texts, desc="tokenising", unit="text", leave=False, dynamic_ncols=True)


def _check_classes(config, corpus, dataset: str, directory: Path) -> None:
    model_classes = tuple(config.class_names)
    if model_classes and model_classes != tuple(corpus.class_names):
        raise DataError(
            f"the model in {directory} was trained on classes {list(model_classes)} but {dataset} has "
            f"{list(corpus.class_names)}; extract with the dataset the model was trained on"
        )
    if config.n_classes != corpus.n_classes:
        raise DataError(
            f"the model in {directory} predicts {config.n_classes} classes but {dataset} has "
            f"{corpus.n_classes}; extract with the dataset the model was trained on"
        )


def summary_of(entry: StoredEntry, store: StateStore, start: float, *, cache_hit: bool) -> dict[str, Any]:
    attrs = entry.attrs
    return {
        "n_sequences": int(attrs["n_sequences"]),
        "n_states": int(attrs["n_states"]),
        "layers": int(attrs["layers"]),
        "hidden_size": int(attrs["hidden_size"]),
        "state_kinds": list(attrs["state_kinds"]),
        "accuracy": attrs.get("accuracy"),
        "seconds": round(time.perf_counter() - start, 3),
        "cache_hit": cache_hit,
        "entry": entry.key,
        "store": str(store.root),
        "device": attrs.get("device"),
        "cluster": attrs.get("cluster"),
        **({"resumed": bool(attrs.get("resumed"))} if not cache_hit else {}),
        **({"stages": attrs["stages"]} if not cache_hit and "stages" in attrs else {}),
    }


def _progress_bar(progress: Any, *, total: int):
    """A tqdm bar on stderr when ``progress`` is ``True`` (states per second and an ETA)."""
    if progress is not True:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="extracting states", unit="state", unit_scale=True, leave=False,
                dynamic_ncols=True, smoothing=0.1)


def _reporter(progress: Any, bar: Any, *, total: int) -> Callable[[int], None]:
    """``report(states_just_done)`` for a tqdm bar (ours or the caller's) or a ``callback(done, total)``."""
    target = (
        bar if bar is not None else (None if progress is True or progress is False or progress is None else progress)
    )
    if target is None:
        return lambda advanced: None
    if hasattr(target, "update"):
        if getattr(target, "total", None) is None:
            target.total = total
        return lambda advanced: target.update(advanced)
    if callable(target):
        done = [0]

        def report(advanced: int) -> None:
            done[0] += advanced
            target(done[0], total)

        return report
    raise TypeError(
        f"progress must be True, False, a callable(done, total) or a tqdm bar; got {type(progress).__name__}"
    )


def load_model_at(directory: Path):
    from rnnpanel.models import load_model

    return load_model(directory, device="cpu")



def summary_line(summary: dict[str, Any]) -> str:
    """The summary as the one line of JSON that ``rnnpanel extract`` prints."""
    return json.dumps(summary, separators=(", ", ": "))
