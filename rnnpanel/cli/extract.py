"""``rnnpanel extract``: every hidden (and cell) state of a sample, into the state store.

Progress goes to stderr; stdout gets exactly one line of JSON, the summary, so scripts can
read it. Heavy modules are imported only when the command runs, so ``rnnpanel --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnnpanel.data.splitting import FileSplit


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "extract",
        help="extract every layer's per-step states of a dataset sample into the store",
        description=(
            "Run a trained model over a sample of a dataset split and store, for every layer and "
            "time step, h (and c for LSTM), the expected prediction, tokens, labels and predictions. "
            "Prints a one-line JSON summary; a repeated identical request is a cache hit."
        ),
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model directory written by `rnnpanel train`")
    p.add_argument("--checkpoints", action="store_true",
                   help="--model is a run trained with --checkpoints K: extract every checkpoint over the same "
                        "sample (one entry and one summary line each; a repeat is a cache hit)")
    p.add_argument("--dataset", required=True, metavar="NAME|PATH",
                   help="a registered corpus (e.g. rotten_tomatoes) or a CSV/TSV/Parquet/JSONL file")
    p.add_argument("--text-column", metavar="COLUMN", help="text column of a dataset file")
    p.add_argument("--label-column", metavar="COLUMN", help="label column of a dataset file")
    p.add_argument("--split-column", metavar="COLUMN",
                   help="column of a dataset file that names each row's split: train or test (also training, "
                        "testing; any case); default: an 80/20 split stratified by label, seed 0")
    p.add_argument("--test-fraction", type=float, metavar="F",
                   help="share of each class a dataset file holds out for test without a split column (default 0.2)")
    p.add_argument("--split-seed", type=int, metavar="N",
                   help="seed of that stratified split (default 0); give the split options the model was trained with")
    p.add_argument("--split", default="test",
                   help="train, test, or all (both, each sequence's split kept; default: test)")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="number of sequences to sample (default: all of the split)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    p.add_argument("--store", default=None, metavar="PATH",
                   help="state store folder (default: $RNNPANEL_HOME/store)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto = CUDA when available)")
    p.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help="sequences per batch (default: 256 on the CPU, more on a large GPU)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch in this process (default 1: a small recurrent layer's per-step "
        "products are too small to share across cores, and on a busy machine a second thread "
        "stalls every step: 12 s vs 42 s for 280k states on a shared 2-core CPU, one check on 2026-12-01, "
        "not a benchmark record). "
        "Use --cluster local:N to use N cores; 0 for torch's own choice",
    )
    p.add_argument("--cluster", default=None, metavar="SPEC",
                   help="run the extraction on a Dask cluster: local[:N] (N worker processes here), local-cuda "
                        "(one worker per GPU) or tcp://HOST:PORT of a running dask-scheduler whose workers see "
                        "the same store path; the entry is the same as without")
    p.add_argument("--chunk-states", type=int, default=None, metavar="N",
                   help="states written per chunk, the unit a killed run resumes from (default: 65,536, "
                        "fewer for wide models so that a chunk of one array stays near 32 MB)")
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="when another process is writing the same entry, wait up to this long for it and then "
                        "read its entry (a cache hit); 0 refuses at once (default: 3600)")
    return p


def run(args: argparse.Namespace) -> int:
    from rnnpanel.data.splitting import FileSplit
    from rnnpanel.errors import DataError

    if args.threads < 0:
        raise DataError(f"--threads must be 0 (torch's choice) or a positive integer, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # this command's process only; the library never sets it

    file_split = FileSplit.from_options(
        column=args.split_column, test_fraction=args.test_fraction, seed=args.split_seed
    )
    models = [args.model]
    if args.checkpoints:
        from rnnpanel.models.checkpoints import read_run

        models = [str(c.path) for c in read_run(args.model)]
    for model in models:
        _extract_one(args, model, file_split)
    return 0


def _extract_one(args: argparse.Namespace, model: str, file_split) -> None:
    """Extract one model (a checkpoint of a run, with --checkpoints) and print its summary line."""
    from rnnpanel.data.userfiles import reporting_splits
    from rnnpanel.paths import default_store
    from rnnpanel.pipeline.extract import extract_to_store, summary_line

    said: list[str] = []  # the split line, printed once extraction succeeded, so an error stays one line
    with reporting_splits(said.append):
        entry, summary = extract_to_store(
            model,
            args.dataset,
            split=args.split,
            n=args.n,
            seed=args.seed,
            store_root=args.store if args.store is not None else default_store(),
            device=args.device,
            batch_size=args.batch_size,
            progress=True,
            text_column=args.text_column,
            label_column=args.label_column,
            file_split=file_split,
            cluster=args.cluster,
            chunk_states=args.chunk_states,
            wait=args.wait,
        )
    if said:
        print(*said, sep="\n", file=sys.stderr, flush=True)
    _warn_if_split_differs(model, args.dataset, file_split)
    if "checkpoint" in entry.attrs:
        summary["epoch"] = entry.attrs["checkpoint"]["epoch"]
    print(summary_line(summary), file=sys.stdout, flush=True)


def _warn_if_split_differs(model_dir: str, dataset: str, file_split: FileSplit | None) -> None:
    """Say so when the model was trained on another split of this file: its test rows would include training rows."""
    import json
    from pathlib import Path

    from rnnpanel.data.resolve import split_mismatch

    try:
        metrics = json.loads((Path(model_dir).expanduser() / "metrics.json").read_text(encoding="utf-8"))
        trained = metrics.get("corpus_provenance") or {}
    except (OSError, ValueError, AttributeError):
        return  # no record of training (or not a model directory: the pipeline says so)
    reason = split_mismatch(dataset, file_split, trained if isinstance(trained, dict) else {})
    if reason:
        print(f"rnnpanel extract: warning: {reason}", file=sys.stderr, flush=True)
