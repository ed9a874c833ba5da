"""``rnnpanel compare``: two entries over the same texts, model against model, in figures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SHOWN_DISAGREEMENTS = 10


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compare", help="compare two entries (two models, two checkpoints, or two layers) on the same texts",
        description="Compare two store entries over the same texts: agreement, A's predictions against B's, "
                    "each model's accuracy per class, and the sequences where they disagree, ranked by how far "
                    "their final probabilities are apart, each with the first step where the two EP curves part "
                    "(total variation distance above --threshold). Two checkpoints of one run add accuracy and "
                    "agreement with the final checkpoint per epoch; stored maps of both add how well they align.")
    p.add_argument("entry_a", metavar="ENTRY_A", help="entry key (or a unique start of it)")
    p.add_argument("entry_b", metavar="ENTRY_B", help="entry key; ENTRY_A again compares two of its layers")
    p.add_argument("--store", default=None, help="store folder (default: the store under $RNNPANEL_HOME)")
    p.add_argument("--layer", type=int, nargs="+", default=None, metavar="L",
                   help="layer whose maps are aligned (one for both entries, or one each; default: the top layers)")
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="total variation distance at which two EP curves part (default 0.25)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write every figure as JSON here")
    return p


def resolve_entry(store, given: str):
    """The entry whose key is ``given`` or starts with it (one only)."""
    from rnnpanel.errors import StoreError

    if store.entry_path(given).is_dir():
        return store.entry(given)
    matches = [e for e in store.entries() if e.key.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(e.key for e in store.entries()) or "none"
    what = "several entries start with" if matches else "no entry starts with"
    raise StoreError(f"{what} {given!r} in store {store.root} (entries: {known})")


def run(args: argparse.Namespace) -> int:
    from rnnpanel.compute.comparison import PARTING_THRESHOLD
    from rnnpanel.errors import DataError
    from rnnpanel.paths import default_store
    from rnnpanel.pipeline.compare import compare_entries
    from rnnpanel.store import StateStore

    threshold = PARTING_THRESHOLD if args.threshold is None else args.threshold
    if not 0.0 < threshold < 1.0:
        raise DataError(f"--threshold must lie strictly between 0 and 1 (a total variation distance), got {threshold}")
    store = StateStore(args.store if args.store is not None else default_store())
    a, b = resolve_entry(store, args.entry_a), resolve_entry(store, args.entry_b)
    layers = None
    if args.layer is not None:
        if len(args.layer) > 2:
            raise DataError(f"--layer takes one layer for both entries or one each, got {len(args.layer)}")
        layers = (args.layer[0], args.layer[-1])
        for entry, layer in zip((a, b), layers):
            n = int(entry.attrs["layers"])
            if not -n <= layer < n:
                raise DataError(f"--layer {layer} is out of range for entry {entry.key} ({n} layer(s))")
        layers = (layers[0] % int(a.attrs["layers"]), layers[1] % int(b.attrs["layers"]))
    if a.key == b.key and (layers is None or layers[0] == layers[1]):
        raise DataError("comparing an entry with itself needs two layers: --layer LA LB")
    result = compare_entries(a, b, threshold=threshold, layers=layers)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def report(result: dict[str, Any]) -> str:
    """The comparison as text for the terminal."""
    classes = result["class_names"]
    a, b = result["entries"]["a"], result["entries"]["b"]

    def name(e: dict) -> str:
        epoch = f", epoch {e['checkpoint']['epoch']}" if e.get("checkpoint") else ""
        return f"{e['key']} ({e['model']}: {str(e['cell']).upper()}-{e['hidden_size']}{epoch})"

    lines = [f"A: {name(a)}", f"B: {name(b)}", f"{result['n_sequences']:,} sequences: {result['pairing']}",
             f"agreement: {result['agreement']:.4f}", "", "A's predictions (rows) against B's (columns):"]
    width = max(8, *(len(c) for c in classes))
    lines.append(" " * width + "".join(f"{c:>{width + 1}}" for c in classes))
    for c, row in zip(classes, result["confusion"]):
        lines.append(f"{c:<{width}}" + "".join(f"{v:>{width + 1},}" for v in row))
    lines += ["", "accuracy".ljust(width) + f"{'A':>9}{'B':>9}"]
    for label in ["overall", *classes]:
        values = [result["accuracy"][m]["overall" if label == "overall" else "by_class"] for m in ("a", "b")]
        cells = [v if label == "overall" else v[label] for v in values]
        lines.append(f"{label:<{width}}" + "".join(f"{'-' if v is None else f'{v:.4f}':>9}" for v in cells))
    shown = result["disagreements"][:SHOWN_DISAGREEMENTS]
    lines += ["", f"{len(result['disagreements']):,} disagreements; the {len(shown)} farthest apart "
                  f"(parting: total variation > {result['parting']['threshold']}):"]
    for d in shown:
        step = "-" if d["parting_step"] is None else d["parting_step"]
        lines.append(f"  #{d['index']:<6} label {d['label']:<{width}} A {d['prediction_a']:<{width}} "
                     f"B {d['prediction_b']:<{width}} distance {d['final_distance']:.3f}  parts at step {step}")
    maps = result.get("maps")
    if maps:
        lines += ["", f"maps (layer {maps['layers'][0]} against {maps['layers'][1]}, {maps['methods'][0]}/"
                      f"{maps['methods'][1]}): median displacement of corresponding states "
                      f"{maps['median_displacement_independent']:.3f} as fitted, "
                      f"{maps['median_displacement_aligned']:.3f} once aligned (fraction of map A's diagonal)"]
    for row in result.get("checkpoints") or []:
        if row is result["checkpoints"][0]:
            lines += ["", "epoch  accuracy  agreement with the final checkpoint"]
        lines.append(f"{row['epoch']:>5}  {row['accuracy']:.4f}    {row['agreement_with_final']:.4f}")
    return "\n".join(lines)
