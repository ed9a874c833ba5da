"""Tokens per second of rnnpanel's extraction against two per-step ``nn.LSTMCell`` loops.

All three produce the same states (every layer's h_t and c_t, checked to 1e-4 before any
timing) for the same model and the same sequences, in one process:

* ``extract_states``: sorts by length, runs each layer as its own fused one-layer ``nn.LSTM``
  with the weights copied and recovers c_t from the recomputed gates (docs/design.md, Data model). It also
  computes EP and the model's own predictions, which the loops do not.
* ``per_sequence_loop`` (the headline baseline): the straightforward way to get every step's
  h and c: one ``nn.LSTMCell`` per layer with the model's weights, stepped through each
  sequence on its own (a batch of one, no padding), as one writes it per text. It is slow, so
  it is timed on ``--per-sequence-n`` sequences drawn evenly from the length-sorted sample:
  the same length distribution, and tokens per second is a rate.
* ``batched_loop``: the same cells stepped over padded batches of ``--batch-size`` taken in
  the data's order: the obvious first optimisation of the loop.

Sequence lengths are those of the Rotten Tomatoes test split (encoded with a vocabulary built
on its training split, last 100 tokens) when that corpus can be loaded, else (or with
``--lengths synthetic``) a seeded log-normal distribution of 5-60 tokens; the JSON says which.
The timed runs are interleaved (extraction, per-sequence, batched, repeated), so a busy spell on
a shared CPU hits all three, and each figure is the median of ``--repeats`` runs.

    python benchmarks/extraction.py --json extraction.json [--n 2000 --hidden 128 --layers 2]
"""

from __future__ import annotations

import argparse
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
from torch import nn

from rnnpanel.compute.device import resolve_device
from rnnpanel.compute.extraction import extract_states
from rnnpanel.models.classifier import PAD_ID, RecurrentClassifier
from rnnpanel.models.config import ModelConfig

VOCAB_SIZE = 20000
MAX_LENGTH = 100
MATCH_TOLERANCE = 1e-4

States = list[dict[str, np.ndarray]]


def corpus_lengths(n: int, seed: int, source: str = "corpus") -> tuple[np.ndarray, str]:
    """Lengths of up to ``n`` encoded Rotten Tomatoes test texts, or a seeded stand-in."""
    rng = np.random.default_rng(seed)
    if source == "corpus":
        try:
            from rnnpanel.data import load_corpus
            from rnnpanel.data.text import Vocabulary, cut_window, tokenize

            corpus = load_corpus("rotten_tomatoes", progress=False)
            vocab = Vocabulary.build([tokenize(t) for t in corpus.train.texts], min_freq=2)
            lengths = np.array(
                [len(cut_window(vocab.encode(tokenize(t)), MAX_LENGTH, "last")[0]) for t in corpus.test.texts]
            )
            lengths = lengths[lengths > 0]
            chosen = rng.choice(len(lengths), size=min(n, len(lengths)), replace=False)
            return lengths[chosen], "rotten_tomatoes test split"
        except Exception as exc:  # noqa: BLE001 - any failure to get the corpus falls back to the stand-in
            print(f"rotten_tomatoes unavailable ({exc}); using seeded log-normal lengths", file=sys.stderr)
    lengths = np.clip(np.round(rng.lognormal(np.log(20), 0.55, size=n)), 5, 60).astype(np.int64)
    return lengths, "seeded log-normal, 5-60 tokens"


def random_sequences(lengths: np.ndarray, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed + 1)
    return [rng.integers(2, VOCAB_SIZE, size=int(k)).tolist() for k in lengths]


def even_subset(lengths: np.ndarray, k: int) -> np.ndarray:
    """``k`` positions spread evenly over the length-sorted sample: its length distribution, in small."""
    order = np.argsort(lengths, kind="stable")
    if k >= len(order):
        return np.arange(len(order))
    return np.sort(order[np.linspace(0, len(order) - 1, k).round().astype(np.int64)])


def build_model(hidden: int, layers: int, seed: int) -> RecurrentClassifier:
    config = ModelConfig(cell="lstm", vocab_size=VOCAB_SIZE, n_classes=2, hidden_size=hidden, num_layers=layers)
    generator = torch.Generator().manual_seed(seed)
    model = RecurrentClassifier(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.empty_like(parameter).uniform_(-0.3, 0.3, generator=generator))
        model.embedding.weight[PAD_ID] = 0.0
    return model.eval()


def lstm_cells(model: RecurrentClassifier, device: torch.device) -> list[nn.LSTMCell]:
    """One ``nn.LSTMCell`` per layer, holding a copy of that layer's weights."""
    rnn = model.rnn
    cells = []
    for layer in range(rnn.num_layers):
        cell = nn.LSTMCell(rnn.input_size if layer == 0 else rnn.hidden_size, rnn.hidden_size)
        cell.load_state_dict(
            {k: getattr(rnn, f"{k}_l{layer}").detach().clone()
             for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        )
        cells.append(cell.to(device).eval())
    return cells


def _empty_states(n_states: int, hidden: int, n_layers: int) -> States:
    return [{k: np.empty((n_states, hidden), np.float32) for k in ("h", "c")} for _ in range(n_layers)]


def per_sequence_loop(model: RecurrentClassifier, sequences: list[list[int]], device: torch.device) -> States:
    """The straightforward baseline: each sequence on its own, step by step, layer by layer."""
    cells = lstm_cells(model, device)
    embedding = model.embedding.to(device)
    hidden = model.rnn.hidden_size
    result = _empty_states(sum(len(s) for s in sequences), hidden, len(cells))
    start = 0
    with torch.inference_mode():
        for seq in sequences:
            x = embedding(torch.tensor(seq, device=device))
            for layer, cell in enumerate(cells):
                h = x.new_zeros(1, hidden)
                c = x.new_zeros(1, hidden)
                hs, cs = [], []
                for t in range(len(seq)):
                    h, c = cell(x[t : t + 1], (h, c))
                    hs.append(h)
                    cs.append(c)
                x = torch.cat(hs)
                result[layer]["h"][start : start + len(seq)] = x.cpu().numpy()
                result[layer]["c"][start : start + len(seq)] = torch.cat(cs).cpu().numpy()
            start += len(seq)
    return result


def batched_loop(
    model: RecurrentClassifier, sequences: list[list[int]], batch_size: int, device: torch.device
) -> States:
    """The loop over padded batches of ``batch_size`` in the data's order, all of a batch's rows per step."""
    cells = lstm_cells(model, device)
    embedding = model.embedding.to(device)
    hidden = model.rnn.hidden_size
    lengths = np.array([len(s) for s in sequences])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    result = _empty_states(int(offsets[-1]), hidden, len(cells))
    with torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start : start + batch_size]
            steps = max(len(s) for s in batch)
            ids = torch.zeros(len(batch), steps, dtype=torch.long)
            for row, seq in enumerate(batch):
                ids[row, : len(seq)] = torch.tensor(seq)
            x = embedding(ids.to(device))
            valid = torch.arange(steps)[None, :] < torch.from_numpy(lengths[start : start + batch_size])[:, None]
            destinations = (offsets[start : start + len(batch)][:, None] + np.arange(steps)[None, :])[valid.numpy()]
            valid = valid.to(device)
            for layer, cell in enumerate(cells):
                h = x.new_zeros(len(batch), hidden)
                c = x.new_zeros(len(batch), hidden)
                hs, cs = [], []
                for t in range(steps):
                    h, c = cell(x[:, t], (h, c))
                    hs.append(h)
                    cs.append(c)
                x = torch.stack(hs, dim=1)
                result[layer]["h"][destinations] = x[valid].cpu().numpy()
                result[layer]["c"][destinations] = torch.stack(cs, dim=1)[valid].cpu().numpy()
    return result


def rows_of(offsets: np.ndarray, sequences: np.ndarray) -> np.ndarray:
    """The flat state rows of the given sequences, in their order."""
    return np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in sequences])


def max_difference(ours: States, baseline: States, name: str) -> float:
    """Largest |difference| over all layers' h and c; refuses to go on above the tolerance."""
    worst = 0.0
    for mine, theirs in zip(ours, baseline, strict=True):
        for kind in ("h", "c"):
            worst = max(worst, float(np.abs(mine[kind] - theirs[kind]).max()))
    if not worst <= MATCH_TOLERANCE:
        raise SystemExit(f"extraction and the {name} differ by {worst:.2e} > {MATCH_TOLERANCE}; not timing")
    return worst


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    start = time.perf_counter()
    fn()
    _synchronize(device)
    return time.perf_counter() - start


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict[str, object]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", required=True, type=Path, help="where to write the results")
    parser.add_argument("--n", type=int, default=2000,
                        help="sequences for the extraction and the batched loop (default 2000)")
    parser.add_argument("--per-sequence-n", type=int, default=300,
                        help="sequences for the per-sequence loop, spread evenly over the sample's lengths "
                        "(default 300)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256, help="for the extraction and the batched loop")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lengths", choices=("corpus", "synthetic"), default="corpus",
                        help="corpus: Rotten Tomatoes test lengths (synthetic if it cannot be loaded); "
                        "synthetic: seeded log-normal")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda: where all methods run (default: auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads for all (default: torch's choice); 1 is steadier on a shared CPU")
    args = parser.parse_args(argv)
    for name in ("n", "per_sequence_n", "hidden", "layers", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    lengths, source = corpus_lengths(args.n, args.seed, args.lengths)
    sequences = random_sequences(lengths, args.seed)
    subset = even_subset(lengths, args.per_sequence_n)
    subset_sequences = [sequences[i] for i in subset]
    device = resolve_device(args.device)
    model = build_model(args.hidden, args.layers, args.seed).to(device)
    n_tokens, subset_tokens = int(lengths.sum()), int(lengths[subset].sum())

    runs: dict[str, Callable[[], object]] = {
        "extraction": lambda: extract_states(model, sequences, batch_size=args.batch_size, device=device),
        "per_sequence_loop": lambda: per_sequence_loop(model, subset_sequences, device),
        "batched_loop": lambda: batched_loop(model, sequences, args.batch_size, device),
    }
    # untimed first runs (warm-up), checked before anything is timed
    ours = runs["extraction"]().layers
    subset_rows = rows_of(np.concatenate([[0], np.cumsum(lengths)]), subset)
    ours_subset = [{kind: states[subset_rows] for kind, states in layer.items()} for layer in ours]
    differences = {
        "per_sequence_loop": max_difference(ours_subset, runs["per_sequence_loop"](), "per-sequence loop"),
        "batched_loop": max_difference(ours, runs["batched_loop"](), "batched loop"),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            seconds[name].append(timed(fn, device))

    tokens = {"extraction": n_tokens, "per_sequence_loop": subset_tokens, "batched_loop": n_tokens}
    rate = {name: tokens[name] / statistics.median(seconds[name]) for name in runs}
    baselines = {
        "per_sequence_loop": {
            "description": "nn.LSTMCell per layer, stepped through each sequence alone (batch of one, no padding)",
            "n_sequences": len(subset),
            "n_tokens": subset_tokens,
            "mean_length": float(lengths[subset].mean()),
        },
        "batched_loop": {
            "description": f"nn.LSTMCell per layer, stepped over padded batches of {args.batch_size} in data order",
            "n_sequences": len(sequences),
            "n_tokens": n_tokens,
            "mean_length": float(lengths.mean()),
            "batch_size": args.batch_size,
        },
    }
    for name, entry in baselines.items():
        entry.update(
            seconds=seconds[name],
            tokens_per_s=rate[name],
            ratio=rate["extraction"] / rate[name],
            max_abs_difference=differences[name],
        )
    result = {
        "benchmark": "extraction",
        "command": "python benchmarks/extraction.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {**machine_info(device), "load_average_1min": [load_before, os.getloadavg()[0]]},
        "model": {"cell": "lstm", "hidden_size": args.hidden, "num_layers": args.layers,
                  "embedding_dim": model.config.embedding_dim, "vocab_size": VOCAB_SIZE},
        "lengths_source": source,
        "repeats": args.repeats,
        "tolerance": MATCH_TOLERANCE,
        "states_match": True,  # max_difference stops the run otherwise
        "extraction": {
            "n_sequences": len(sequences),
            "n_tokens": n_tokens,
            "mean_length": float(lengths.mean()),
            "max_length": int(lengths.max()),
            "batch_size": args.batch_size,
            "seconds": seconds["extraction"],
            "tokens_per_s": rate["extraction"],
        },
        "baselines": baselines,
        "extraction_tokens_per_s": rate["extraction"],
        "ratio": baselines["per_sequence_loop"]["ratio"],
        "ratio_vs_batched_loop": baselines["batched_loop"]["ratio"],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    return 0


def print_table(result: dict) -> None:
    rows = [("rnnpanel extract_states", result["extraction"], None)]
    rows += [(name.replace("_", " "), entry, entry["ratio"]) for name, entry in result["baselines"].items()]
    print(f"{'method':<26}{'sequences':>10}{'tokens':>8}{'tokens/s':>11}{'median s':>10}{'ratio':>8}")
    for name, entry, ratio in rows:
        print(f"{name:<26}{entry['n_sequences']:>10}{entry['n_tokens']:>8}{entry['tokens_per_s']:>11,.0f}"
              f"{statistics.median(entry['seconds']):>10.3f}{'' if ratio is None else f'{ratio:.1f}':>8}")
    machine = result["machine"]
    print(f"ratio {result['ratio']:.1f} vs the per-sequence loop, {result['ratio_vs_batched_loop']:.2f} vs the "
          f"batched loop; {result['lengths_source']}; {machine['torch_threads']} thread(s) on {machine['device']}, "
          f"load {machine['load_average_1min'][0]:.1f}->{machine['load_average_1min'][1]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
