"""Texts already in memory, already read into token ids → one store entry: what ``rnnpanel.explore`` stores.

``rnnpanel extract`` reads a corpus by name or file and tokenises it with rnnpanel's tokenizer.
A notebook user has texts in a list and perhaps a tokenizer of their own, so this flow takes
the ids the model reads (:class:`~rnnpanel.models.encoding.EncodedTexts`) and writes the same
kind of entry through the same streaming path (shards of a partial entry, then a commit). The
entry is keyed by the weights and the ids themselves, so the same model and texts are a cache
hit whichever tokenizer produced them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnpanel.data.corpus import Corpus, Split
from rnnpanel.errors import DataError
from rnnpanel.models.encoding import EncodedTexts
from rnnpanel.pipeline import extract as _extract
from rnnpanel.store import StateStore, StoredEntry, content_key, entry_key
from rnnpanel.store.state_store import chunk_rows_for


def extract_encoded(
    model_dir: str | Path,
    texts: list[str],
    encoded: EncodedTexts,
    labels: np.ndarray | None,
    class_names: tuple[str, ...],
    *,
    store_root: str | Path,
    name: str = "notebook",
    device: str = "auto",
    batch_size: int | None = None,
    progress: Any = True,
) -> tuple[StoredEntry, dict[str, Any]]:
    """Store every state of the kept texts (``encoded.kept``) read by the model in ``model_dir``.

    ``labels`` index ``class_names``, one per text; None stores the model's own predictions as
    the true classes (the app then shows every sequence as correct). ``progress`` is as in
    :func:`rnnpanel.pipeline.extract.extract_to_store`. Returns the entry and the same summary.
    """
    start = time.perf_counter()
    store = StateStore(store_root)
    files = _extract.model_files(model_dir)
    if encoded.n_sequences == 0:
        raise DataError("no text has a token the model knows; check the tokenizer and the vocabulary")
    if labels is not None and len(labels) != len(encoded.kept):
        raise DataError(f"{len(labels)} labels for {len(encoded.kept)} texts; give one label per text")
    sequence_ids = np.flatnonzero(encoded.kept).astype(np.int64)
    source = {"in_memory": name, "token_ids": encoded.token_ids, "offsets": encoded.offsets,
              "labels": None if labels is None else np.asarray(labels, dtype=np.int64),
              "class_names": list(class_names)}
    request = content_key("memory-request", weights=files.weights_sha256, vocab=files.vocab_sha256, source=source)
    loaded = _extract.load_model_at(files.directory)
    config = loaded.config
    key = entry_key(weights_sha256=files.weights_sha256,
                    dataset=content_key("sequence-source", dataset=source, vocab=files.vocab_sha256),
                    split="test", sequence_ids=sequence_ids, max_length=config.max_length,
                    truncation=config.truncation)
    if store.has_entry(key):
        entry = store.entry(key)
        return entry, _extract.summary_of(entry, store, start, cache_hit=True)

    from rnnpanel.compute.device import resolve_device

    target = resolve_device(device)
    chunk_states = chunk_rows_for(4 * max(config.state_size, config.n_classes))
    started = time.perf_counter()
    with _extract.partial_entry_for(store, key, config, encoded, batch_size=batch_size,
                                 chunk_states=chunk_states) as partial:
        if partial.already_stored:  # another process completed it just before this one took the lock
            entry = store.entry(key)
            return entry, _extract.summary_of(entry, store, start, cache_hit=True)
        probs, stages = _extract.stream_states(partial, files, encoded, device=device, batch_size=batch_size,
                                                progress=progress, cluster=None, chunk_states=chunk_states)
        if labels is None:  # the model's own answer stands in for the truth
            labels = np.zeros(len(encoded.kept), dtype=np.int64)
            labels[sequence_ids] = probs.argmax(axis=1)
        corpus = Corpus(name=name, class_names=tuple(class_names), train=Split((), np.zeros(0, dtype=np.int64)),
                        test=Split(tuple(texts), np.asarray(labels, dtype=np.int64)),
                        provenance={"source": "in memory"})
        seconds = time.perf_counter() - started
        entry = _extract.commit_entry(store, partial, files, loaded, corpus, encoded, probs, sequence_ids,
                                 {"in_memory": name}, request, split="test", n=None, seed=0,
                                 n_available=len(sequence_ids), target=target, cluster=None, seconds=seconds,
                                 stages={**stages, "shards_wall": seconds})
    return entry, _extract.summary_of(entry, store, start, cache_hit=False)
