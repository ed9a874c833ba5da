"""``rnnpanel explain``: which words of a text move a model's prediction, and the smallest edit that flips it."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

HELP = "which words of a text move the prediction, and the fewest removed words that change it"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "explain", help=HELP,
        description=(
            "Read TEXT with the model (its tokenizer, vocabulary and window) and print one row per word it "
            "reads: 'removal' is the probability of the predicted class for the whole text minus that "
            "probability with the word removed (read again by the model); 'grad x input' is the gradient of "
            "that probability with respect to the word's embedding times the embedding. Then the greedy "
            "search for the fewest removed words that change the predicted class (at most --limit). A text "
            "longer than the window is read as its window; a removed word is removed from the window, which "
            "is not refilled."))
    p.add_argument("text", nargs="+", metavar="TEXT", help="the text (several arguments are joined by spaces)")
    p.add_argument("--model", required=True, metavar="DIR", help="model directory written by `rnnpanel train`")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="remove at most N words in the flip search (default 5)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the figures as JSON here")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default 1: on a busy machine a second thread stalls every step of "
                        "the recurrent layer: about 10 times slower on a busy 2-core CPU, benchmarks/RESULTS.md, "
                        "'What if'; 0: torch's choice)")
    return p


def run(args: argparse.Namespace) -> int:
    from rnnpanel.errors import DataError
    from rnnpanel.models import load_model
    from rnnpanel.pipeline.importance import DEFAULT_LIMIT, check_limit, smallest_flip, word_importance

    limit = check_limit(DEFAULT_LIMIT if args.limit is None else args.limit)
    if args.threads < 0:
        raise DataError(f"--threads must be 0 (torch's choice) or a positive integer, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # this command's process only; the library never sets it
    text = " ".join(args.text)
    loaded = load_model(args.model, device=args.device)
    importance = word_importance(loaded, text)
    flip = smallest_flip(loaded, importance.token_ids, limit=limit)
    result = explanation(importance, flip, model=str(Path(args.model)), window=loaded.config)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def explanation(importance, flip, *, model: str, window) -> dict[str, Any]:
    """The JSON record of one text's word importance and flip search."""
    names = importance.class_names
    return {
        "model": model,
        "predicted": importance.predicted_name,
        "probability": importance.probability,
        "probabilities": {name: float(p) for name, p in zip(names, importance.probabilities)},
        "gradient_of": "probability of the predicted class",
        "window": {"max_length": window.max_length, "truncation": window.truncation, "n_cut": importance.n_cut},
        "words": [{"word": w, "removal": _number(r), "gradient_x_input": float(g)}
                  for w, r, g in zip(importance.words, importance.removal, importance.gradient_x_input)],
        "limit": flip.limit,
        "flip": None if not flip.flipped else {
            "removed": flip.removed,
            "predicted": names[flip.predicted_after],
            "probability": float(flip.probabilities_after[flip.predicted_after]),
            "text": flip.text_after,
        },
    }


def report(result: dict[str, Any]) -> str:
    """The explanation as a table for the terminal."""
    window = result["window"]
    lines = [f"predicted {result['predicted']} (probability {result['probability']:.4f}) from "
             f"{len(result['words'])} word(s) read"]
    if window["n_cut"]:
        lines[0] += (f"; {window['n_cut']} known word(s) cut by the window (the {window['truncation']} "
                     f"{window['max_length']} are read)")
    flip = result["flip"]
    order = {p: k + 1 for k, p in enumerate(flip["removed"])} if flip else {}
    width = max([4, *(len(w["word"]) for w in result["words"])])
    lines += ["", f"{'#':>4}  {'word':<{width}}  {'removal':>8}  {'grad x input':>12}  flip"]
    for i, w in enumerate(result["words"]):
        removal = "-" if w["removal"] is None else f"{w['removal']:+.4f}"
        mark = f"{order[i]}" if i in order else ""
        lines.append(f"{i:>4}  {w['word']:<{width}}  {removal:>8}  {w['gradient_x_input']:>+12.4f}  {mark}")
    lines.append("")
    if flip is None:
        lines.append(f"no flip within {result['limit']} removed word(s)")
    else:
        removed = ", ".join(f"#{p} {result['words'][p]['word']!r}" for p in flip["removed"])
        lines += [f"flip: removing {len(flip['removed'])} word(s) ({removed}) makes it {flip['predicted']} "
                  f"(probability {flip['probability']:.4f}):", f"  {flip['text']}"]
    return "\n".join(lines)
