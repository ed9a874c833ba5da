"""Tokens per second of rnnpanel's batched extraction against a per-step ``nn.LSTMCell`` loop.

Both produce the same states (every layer's h_t and c_t, checked to 1e-4 before timing) for
the same model and the same sequences, in one process. The baseline is the straightforward
way to get per-step c: one ``nn.LSTMCell`` per layer with the model's weights, stepping through
time over padded batches taken in the data's order. rnnpanel's extraction sorts by length,
packs, runs each layer as a fused one-layer ``nn.LSTM`` and recovers c from the gates; it also
computes EP and the model's own predictions, which the baseline does not.

Sequence lengths are those of the Rotten Tomatoes test split (encoded with a vocabulary built
on its training split, last 100 tokens) when that corpus can be loaded, else a seeded
log-normal distribution of 5-60 tokens; the JSON records which.

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


def corpus_lengths(n: int, seed: int) -> tuple[np.ndarray, str]:
    """Lengths of up to ``n`` encoded Rotten Tomatoes test texts, or a seeded stand-in."""
    rng = np.random.default_rng(seed)
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


def build_model(hidden: int, layers: int, seed: int) -> RecurrentClassifier:
    config = ModelConfig(cell="lstm", vocab_size=VOCAB_SIZE, n_classes=2, hidden_size=hidden, num_layers=layers)
    generator = torch.Generator().manual_seed(seed)
    model = RecurrentClassifier(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.empty_like(parameter).uniform_(-0.3, 0.3, generator=generator))
        model.embedding.weight[PAD_ID] = 0.0
    return model.eval()


def lstmcell_loop(
    model: RecurrentClassifier, sequences: list[list[int]], batch_size: int, device: torch.device
) -> list[dict[str, np.ndarray]]:
    """The baseline: per layer an ``nn.LSTMCell`` with copied weights, stepped over padded batches."""
    rnn = model.rnn
    embedding = model.embedding.to(device)
    cells = []
    for layer in range(rnn.num_layers):
        cell = nn.LSTMCell(rnn.input_size if layer == 0 else rnn.hidden_size, rnn.hidden_size)
        cell.load_state_dict(
            {k: getattr(rnn, f"{k}_l{layer}").detach().clone() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        )
        cells.append(cell.to(device).eval())
    lengths = np.array([len(s) for s in sequences])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n = int(offsets[-1])
    result = [{"h": np.empty((n, rnn.hidden_size), np.float32), "c": np.empty((n, rnn.hidden_size), np.float32)}
              for _ in cells]
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
            for index, cell in enumerate(cells):
                h = x.new_zeros(len(batch), rnn.hidden_size)
                c = x.new_zeros(len(batch), rnn.hidden_size)
                hs, cs = [], []
                for t in range(steps):
                    h, c = cell(x[:, t], (h, c))
                    hs.append(h)
                    cs.append(c)
                x = torch.stack(hs, dim=1)
                result[index]["h"][destinations] = x[valid].cpu().numpy()
                result[index]["c"][destinations] = torch.stack(cs, dim=1)[valid].cpu().numpy()
    return result


def check_same_states(ours: list[dict[str, np.ndarray]], baseline: list[dict[str, np.ndarray]]) -> float:
    worst = 0.0
    for mine, theirs in zip(ours, baseline, strict=True):
        for kind in ("h", "c"):
            worst = max(worst, float(np.abs(mine[kind] - theirs[kind]).max()))
    if worst > MATCH_TOLERANCE:
        raise SystemExit(f"extraction and baseline differ by {worst:.2e} > {MATCH_TOLERANCE}; not timing")
    return worst


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", required=True, type=Path, help="where to write the results")
    parser.add_argument("--n", type=int, default=2000, help="number of sequences (default 2000)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda: where both methods run (default: auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads for both (default: torch's choice); 1 is steadier on a shared CPU")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    lengths, source = corpus_lengths(args.n, args.seed)
    sequences = random_sequences(lengths, args.seed)
    device = resolve_device(args.device)
    model = build_model(args.hidden, args.layers, args.seed).to(device)
    n_tokens = int(lengths.sum())

    def ours():
        result = extract_states(model, sequences, batch_size=args.batch_size, device=device)
        _synchronize(device)
        return result

    def baseline():
        result = lstmcell_loop(model, sequences, args.batch_size, device)
        _synchronize(device)
        return result

    worst = check_same_states(ours().layers, baseline())
    ours_s, baseline_s = [], []
    for _ in range(args.repeats):  # interleaved, so a busy spell on a shared CPU hits both
        ours_s.append(timed(ours))
        baseline_s.append(timed(baseline))
    ours_tps = n_tokens / statistics.median(ours_s)
    baseline_tps = n_tokens / statistics.median(baseline_s)
    result = {
        "benchmark": "extraction",
        "model": {"cell": "lstm", "hidden_size": args.hidden, "num_layers": args.layers, "embedding_dim": 32},
        "n_sequences": len(sequences),
        "n_tokens": n_tokens,
        "mean_length": float(lengths.mean()),
        "max_length": int(lengths.max()),
        "lengths_source": source,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "max_abs_difference": worst,
        "extraction_seconds": ours_s,
        "baseline_seconds": baseline_s,
        "extraction_tokens_per_second": ours_tps,
        "baseline_tokens_per_second": baseline_tps,
        "ratio": ours_tps / baseline_tps,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1min": os.getloadavg()[0],
            "torch": torch.__version__,
            "device": str(device),
            "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'method':<34}{'tokens/s':>12}{'median s':>10}")
    print(f"{'rnnpanel extract_states':<34}{ours_tps:>12,.0f}{statistics.median(ours_s):>10.3f}")
    print(f"{'nn.LSTMCell per-step loop':<34}{baseline_tps:>12,.0f}{statistics.median(baseline_s):>10.3f}")
    print(f"ratio {result['ratio']:.2f}  ({len(sequences)} sequences, {n_tokens} tokens, {source}; "
          f"max |difference| {worst:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
