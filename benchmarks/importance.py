"""What if on the CPU: word importance and the flip search of 200-word texts, and the fragility of
50,000 stored sequences, against the one-at-a-time rerun loops the batches replace.

Texts: Rotten Tomatoes reviews are about 20 words, so each 200-word text joins consecutive test
reviews (split on white space) and keeps the first 200 words. The demo-sized model (embedding 32,
LSTM 100, window: the last 100 tokens) reads only 100 of them, so every figure is also taken with
the same weights and a window of 200 tokens ("window 200"): the model then reads every known word
of the text (the weights do not depend on the window).

* ``importance``: :func:`word_importance` (removal of all T words in one batch, and gradient × input
  in one backward pass); its parts separately; and the peers it replaces, run in the same process,
  interleaved with it: the normal path one edited text at a time (``extract_states`` of one
  sequence, as live input reads a text: what a test checks removal against) and the model's
  ``forward`` one edited text at a time. Both peers must give the same removal values (1e-5).
* ``flip``: :func:`smallest_flip` with a limit of 5; the rounds it ran are recorded (a round reads
  every candidate edit in one batch), and the same search made to run all 5 rounds (it does not stop
  at a flip) is timed too: the worst case of the limit.
* ``fragility``: :func:`sequence_fragility` (limit 5) of ``--n-fragility`` windows drawn with
  replacement (seed 0) from every Rotten Tomatoes text as the model reads it (train and test):
  one run; the one-text search (:func:`smallest_flip`) over ``--n-peer`` of them, as a rate; and
  the first ``--n-whole`` searched again with the library's removals read from the shared prefix
  (:func:`read_removals`) and with every edited window read whole.

Torch runs ``--threads`` threads (default 1, as ``rnnpanel explain``: on a busy 2-core machine a
second thread stalls every step of the recurrent layer). Every timing is the median of
``--repeats`` runs after one warm-up per text (the first call in a process also sets up oneDNN's
kernels: ``cold_first_call_s``). The machine's load average is recorded before and after each part.
``threads``: removal of the same texts with one thread and with ``--thread-peer``, interleaved.

    python benchmarks/importance.py --model DIR --json benchmarks/importance-cpu-2core.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from rnnpanel.compute.extraction import extract_states
from rnnpanel.compute.whatif import margin_toward_other
from rnnpanel.data import load_corpus
from rnnpanel.models import load_model
from rnnpanel.models.encoding import encode_flat
from rnnpanel.pipeline import importance as imp

TEXT_WORDS = 200


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> tuple[float, object]:
    """Seconds ``fn(*args, **kwargs)`` took, and what it returned."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def long_texts(texts: list[str], n: int) -> list[str]:
    """``n`` texts of 200 words, each the next test reviews joined."""
    out, words = [], []
    for text in texts:
        words += text.split()
        if len(words) >= TEXT_WORDS:
            out.append(" ".join(words[:TEXT_WORDS]))
            words = []
            if len(out) == n:
                break
    return out


def one_at_a_time_normal_path(loaded, ids: np.ndarray, cls: int) -> np.ndarray:
    """Removal by reading each edited window on its own through ``extract_states`` (live input's path)."""
    whole = extract_states(loaded.model, [ids.tolist()], device="cpu").probs[0, cls]
    return np.array([whole - extract_states(loaded.model, [np.delete(ids, t).tolist()], device="cpu").probs[0, cls]
                     for t in range(ids.size)])


def one_at_a_time_forward(loaded, ids: np.ndarray, cls: int) -> np.ndarray:
    """Removal by the model's forward on each edited window on its own."""
    model = loaded.model

    def p(seq: np.ndarray) -> float:
        x = torch.from_numpy(seq)[None]
        return float(torch.softmax(model(x, torch.tensor([seq.size])), -1)[0, cls])

    with torch.no_grad():
        whole = p(ids)
        return np.array([whole - p(np.delete(ids, t)) for t in range(ids.size)])


def forced_flip(loaded, ids: np.ndarray, limit: int) -> float:
    """The greedy search's ``limit`` rounds, as :func:`smallest_flip` reads them, without stopping at a flip."""
    with imp.reading(loaded.model) as (runner, device):
        start = time.perf_counter()
        current = ids[None]
        for _ in range(limit):
            probs = imp.read_removals(runner, device, current)[0]
            best = int(margin_toward_other(probs, 0).argmax())
            current = np.delete(current, best, axis=1)
        return time.perf_counter() - start


def bench_window(loaded, texts: list[str], repeats: int, peer_texts: int, limit: int) -> dict:
    record: dict = {"window": {"max_length": loaded.config.max_length, "truncation": loaded.config.truncation}}
    reads = [imp.read_text(loaded, t) for t in texts]
    record["tokens_read"] = [int(r.ids.size) for r in reads]
    for text in texts:   # a warm-up per shape
        imp.word_importance(loaded, text)
    timings: dict[str, list[float]] = {k: [] for k in ("importance", "removal", "gradient")}
    for _ in range(repeats):
        for r, text in zip(reads, texts):
            timings["importance"].append(timed(imp.word_importance, loaded, text)[0])
            timings["removal"].append(timed(imp.removal_probabilities, loaded.model, r.ids)[0])
            timings["gradient"].append(timed(imp.gradient_x_input, loaded.model, r.ids, 0)[0])
    record["importance_s"] = round(statistics.median(timings["importance"]), 4)
    record["removal_s"] = round(statistics.median(timings["removal"]), 4)
    record["gradient_x_input_s"] = round(statistics.median(timings["gradient"]), 4)
    record["importance_s_max"] = round(max(timings["importance"]), 4)

    # the peers, interleaved with the batch, on the first texts
    peers: dict[str, list[float]] = {"batch": [], "normal_path": [], "forward": []}
    gaps = []
    for r in reads[:peer_texts]:
        whole, removed = imp.removal_probabilities(loaded.model, r.ids)
        cls = int(np.argmax(whole))
        batch_removal = whole[cls] - removed[:, cls]
        for _ in range(max(1, repeats // 3)):
            peers["batch"].append(timed(imp.removal_probabilities, loaded.model, r.ids)[0])
            for name, loop in (("normal_path", one_at_a_time_normal_path), ("forward", one_at_a_time_forward)):
                took, removal = timed(loop, loaded, r.ids, cls)
                peers[name].append(took)
                gaps.append(float(np.abs(removal - batch_removal).max()))
    batch = statistics.median(peers["batch"])
    record["removal_peers"] = {
        "batch_s": round(batch, 4),
        "one_at_a_time_normal_path_s": round(statistics.median(peers["normal_path"]), 4),
        "one_at_a_time_forward_s": round(statistics.median(peers["forward"]), 4),
        "speedup_over_normal_path": round(statistics.median(peers["normal_path"]) / batch, 1),
        "speedup_over_forward": round(statistics.median(peers["forward"]) / batch, 1),
        "max_removal_difference": max(gaps),
    }

    flips, rounds, flipped = [], [], []
    for text in texts:
        for _ in range(max(1, repeats // 2)):
            took, found = timed(imp.smallest_flip, loaded, text, limit=limit)
            flips.append(took)
        rounds.append(len(found.removed))
        flipped.append(bool(found.flipped))
    record["flip_s"] = round(statistics.median(flips), 4)
    record["flip_s_max"] = round(max(flips), 4)
    record["flip_rounds"] = rounds
    record["flip_flipped"] = flipped
    forced = [forced_flip(loaded, r.ids, limit) for r in reads for _ in range(max(1, repeats // 2))]
    record["flip_all_rounds_s"] = round(statistics.median(forced), 4)
    record["flip_all_rounds_s_max"] = round(max(forced), 4)
    return record


def bench_threads(loaded, texts: list[str], repeats: int, threads: list[int]) -> dict:
    """Removal of the texts with each thread count in turn, interleaved (torch's threads are this process's)."""
    saved = torch.get_num_threads()
    reads = [imp.read_text(loaded, t) for t in texts]
    times: dict[int, list[float]] = {n: [] for n in threads}
    try:
        for _ in range(repeats):
            for n in threads:
                torch.set_num_threads(n)
                for r in reads:
                    times[n].append(timed(imp.removal_probabilities, loaded.model, r.ids)[0])
    finally:
        torch.set_num_threads(saved)
    return {f"{n}_threads": {"median_s": round(statistics.median(v), 4), "max_s": round(max(v), 4)}
            for n, v in times.items()}


def bench_fragility(loaded, corpus, n: int, n_peer: int, n_whole: int, limit: int) -> dict:
    texts = list(corpus.train.texts) + list(corpus.test.texts)
    encoded = encode_flat(texts, loaded.vocab, loaded.config)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, encoded.n_sequences, size=n))
    lengths = np.diff(encoded.offsets)[rows]
    gather = np.concatenate([np.arange(encoded.offsets[r], encoded.offsets[r + 1]) for r in rows])
    token_ids = encoded.token_ids[gather]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    before = load_average()
    result = imp.sequence_fragility(loaded.model, token_ids, offsets, limit=limit, words=loaded.vocab.words,
                                    names=imp.class_names(loaded.config))
    after = load_average()
    peer_rows = rng.choice(n, size=n_peer, replace=False)
    peer_start = time.perf_counter()
    agree = 0
    for s in peer_rows:
        flip = imp.smallest_flip(loaded, token_ids[offsets[s]:offsets[s + 1]], limit=limit)
        agree += int((len(flip.removed) if flip.flipped else limit + 1) == int(result.removals[s]))
    peer = time.perf_counter() - peer_start
    # the first n_whole sequences: removals read from the shared prefix (the library) or each edited window whole
    cut = offsets[:n_whole + 1]
    whole_ids = token_ids[:cut[-1]]
    shared_s = imp.sequence_fragility(loaded.model, whole_ids, cut, limit=limit).seconds
    saved = imp.PREFIX_FROM
    imp.PREFIX_FROM = sys.maxsize
    try:
        whole = imp.sequence_fragility(loaded.model, whole_ids, cut, limit=limit)
    finally:
        imp.PREFIX_FROM = saved
    same = bool(np.array_equal(whole.removals, result.removals[:n_whole]))
    per_sequence = result.seconds / n
    return {
        "n_sequences": n, "n_tokens": int(offsets[-1]), "mean_length": round(float(lengths.mean()), 1),
        "limit": limit, "seconds": round(result.seconds, 1),
        "sequences_per_s": round(n / result.seconds),
        "removals_histogram": {str(k): int(v) for k, v in enumerate(np.bincount(result.removals, minlength=limit + 2))
                               if k > 0},
        "flip_words_top5": {c: [(w["word"], w["flips"], w["sequences"]) for w in rows_[:5]]
                            for c, rows_ in result.flip_words.items()},
        "peer_one_text_search": {"n_sequences": n_peer, "seconds": round(peer, 2),
                                 "per_sequence_s": round(peer / n_peer, 5),
                                 "speedup": round(peer / n_peer / per_sequence, 1),
                                 "same_removals": f"{agree}/{n_peer}"},
        "peer_whole_windows": {"n_sequences": n_whole, "shared_prefix_s": round(shared_s, 2),
                               "whole_windows_s": round(whole.seconds, 2),
                               "speedup": round(whole.seconds / shared_s, 2), "same_removals": same},
        "load_average_before": before, "load_average_after": after,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model directory (the demo-sized Rotten Tomatoes LSTM)")
    parser.add_argument("--json", default=None, help="write the record here")
    parser.add_argument("--texts", type=int, default=5, help="200-word texts (default 5)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peer-texts", type=int, default=2, help="texts the one-at-a-time loops run on")
    parser.add_argument("--n-fragility", type=int, default=50_000)
    parser.add_argument("--n-peer", type=int, default=300, help="sequences the one-text search runs on")
    parser.add_argument("--n-whole", type=int, default=5000,
                        help="sequences searched again reading every edited window whole")
    parser.add_argument("--limit", type=int, default=imp.DEFAULT_LIMIT)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch's CPU threads in this process (default 1, as rnnpanel explain; 0: torch's choice)")
    parser.add_argument("--thread-peer", type=int, default=2,
                        help="also time removal with this many threads, interleaved with one (0: not)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    loaded = load_model(args.model)
    corpus = load_corpus("rotten_tomatoes", progress=False)
    texts = long_texts(list(corpus.test.texts), args.texts)
    record: dict = {
        "record": "importance",
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "load_average_start": load_average()},
        "model": {"dir": Path(args.model).name, "cell": loaded.config.cell, "embedding": loaded.config.embedding_dim,
                  "hidden": loaded.config.hidden_size, "layers": loaded.config.num_layers},
        "texts": {"n": len(texts), "words": TEXT_WORDS,
                  "how": "consecutive Rotten Tomatoes test reviews joined, first 200 words"},
        "repeats": args.repeats,
    }
    record["cold_first_call_s"] = round(timed(imp.word_importance, loaded, texts[0])[0], 3)
    wide = dataclasses.replace(loaded, config=dataclasses.replace(loaded.config, max_length=TEXT_WORDS))
    for name, model in (("model_window", loaded), ("window_200", wide)):
        before = load_average()
        record[name] = bench_window(model, texts, args.repeats, args.peer_texts, args.limit)
        record[name]["load_average_before"], record[name]["load_average_after"] = before, load_average()
        print(json.dumps({name: record[name]}), file=sys.stderr)
    if args.thread_peer:
        before = load_average()
        record["threads"] = bench_threads(wide, texts, args.repeats, [1, args.thread_peer])
        record["threads"].update(load_average_before=before, load_average_after=load_average(),
                                 what="removal of the 200-word texts, window 200")
        print(json.dumps({"threads": record["threads"]}), file=sys.stderr)
    if args.n_fragility:
        n_whole = min(args.n_whole, args.n_fragility)
        record["fragility"] = bench_fragility(loaded, corpus, args.n_fragility, args.n_peer, n_whole, args.limit)
        print(json.dumps({"fragility": record["fragility"]}), file=sys.stderr)
    record["machine"]["load_average_end"] = load_average()
    text = json.dumps(record, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
