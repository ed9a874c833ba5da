"""``rnnpanel train``: train the paper's kind of classifier on a corpus and save it as a model directory."""

from __future__ import annotations

import argparse
import json
import math
import sys

from rnnpanel.models.config import CELLS, TRUNCATION_SIDES

HELP = "train a recurrent classifier on a corpus and save it as a model directory"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from rnnpanel.models.encoding import DATASET_WINDOWS
    from rnnpanel.models.training import TrainingRecipe

    recipe = TrainingRecipe()
    windows = "; ".join(f"{k}: {v['truncation']} {v['max_length']}" for k, v in DATASET_WINDOWS.items())
    p = subparsers.add_parser(
        "train",
        help=HELP,
        description=(
            f"{HELP.capitalize()}. Writes DIR/config.json, vocab.json, weights.safetensors and metrics.json "
            "atomically and prints a one-line JSON summary."
        ),
    )
    p.add_argument("--dataset", required=True, help="a registered corpus name or a CSV/TSV/Parquet/JSONL file")
    p.add_argument("--text-column", help="text column of a user file")
    p.add_argument("--label-column", help="label column of a user file")
    split = p.add_argument_group("train/test split of a user file (default: 80/20 stratified by label, seed 0)")
    split.add_argument("--split-column", metavar="COLUMN",
                       help="column that names each row's split: train or test (also training, testing; any case)")
    split.add_argument("--test-fraction", type=float, metavar="F",
                       help="share of each class held out for test without a split column (default 0.2)")
    split.add_argument("--split-seed", type=int, metavar="N",
                       help="seed of that stratified split (default 0); give extract the same split options")
    p.add_argument("--out", required=True, metavar="DIR", help="model directory to write (an existing one is replaced)")
    arch = p.add_argument_group("architecture (default: the paper's)")
    arch.add_argument("--cell", choices=CELLS, default="lstm")
    arch.add_argument("--hidden", type=int, default=100, help="units per recurrent layer (default 100)")
    arch.add_argument("--layers", type=int, default=1, help="recurrent layers (default 1)")
    arch.add_argument("--bidirectional", action="store_true")
    arch.add_argument("--embedding", type=int, default=32, help="embedding dimension (default 32)")
    arch.add_argument("--dropout", type=float, default=0.5, help="dropout before the head (default 0.5)")
    window = p.add_argument_group("input window")
    window.add_argument(
        "--max-length", type=int, help=f"tokens kept per text (defaults: {windows}; otherwise last 100)"
    )
    window.add_argument("--truncation", choices=TRUNCATION_SIDES, help="which end of a long text is kept")
    rec = p.add_argument_group("recipe (Adam, gradient clipping, early stopping on a validation split)")
    rec.add_argument(
        "--epochs", type=int, default=recipe.max_epochs, help=f"maximum epochs (default {recipe.max_epochs})"
    )
    rec.add_argument(
        "--patience", type=int, default=recipe.patience, help=f"early-stopping patience (default {recipe.patience})"
    )
    rec.add_argument("--lr", type=float, default=recipe.lr, help=f"Adam learning rate (default {recipe.lr})")
    rec.add_argument("--batch-size", type=int, default=recipe.batch_size, help=f"default {recipe.batch_size}")
    rec.add_argument("--checkpoints", type=int, default=None, metavar="K",
                     help="also keep the model every K epochs and at the epoch training stopped, as model folders "
                          "in DIR/checkpoints/ listed in DIR/checkpoints.json (DIR stays the best epoch's model); "
                          "`rnnpanel extract --checkpoints` then extracts them all")
    rec.add_argument(
        "--seed",
        type=int,
        default=recipe.seed,
        help="seed of the validation split, initialisation and batch order (the test split's is --split-seed)",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default cpu)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch while training (default 1: a 100-unit LSTM's per-step products are too small "
        "to share across cores, and on a busy machine a second thread stalls every step: 5 s vs 30-120 s "
        "per R8 epoch on a shared 2-core CPU, observed on 2026-11-22, not a benchmark record). Use 0 for torch's "
        "own choice",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from rnnpanel.data import resolve_corpus
    from rnnpanel.data.splitting import FileSplit
    from rnnpanel.data.userfiles import reporting_splits
    from rnnpanel.errors import ModelError
    from rnnpanel.models.checkpoints import CheckpointKeeper, save_checkpoints
    from rnnpanel.models.io import check_output_dir, save_model
    from rnnpanel.models.training import TrainingRecipe, train_model

    out = check_output_dir(args.out)
    keeper = None if args.checkpoints is None else CheckpointKeeper(args.checkpoints)
    if args.threads < 0:
        raise ModelError(f"--threads must be 0 (torch's choice) or a positive integer, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)  # this command's process only; the library never sets it
    recipe = TrainingRecipe(
        lr=args.lr, batch_size=args.batch_size, max_epochs=args.epochs, patience=args.patience, seed=args.seed
    )
    file_split = FileSplit.from_options(
        column=args.split_column, test_fraction=args.test_fraction, seed=args.split_seed
    )
    said: list[str] = []  # the split line, printed once training succeeded, so an error stays one line
    with reporting_splits(said.append):
        corpus = resolve_corpus(args.dataset, text_column=args.text_column, label_column=args.label_column,
                                split=file_split, progress=not args.no_progress)
    model, vocab, metrics = train_model(
        corpus,
        recipe=recipe,
        cell=args.cell,
        embedding_dim=args.embedding,
        hidden_size=args.hidden,
        num_layers=args.layers,
        bidirectional=args.bidirectional,
        dropout=args.dropout,
        max_length=args.max_length,
        truncation=args.truncation,
        device=args.device,
        progress=not args.no_progress,
        on_epoch=keeper,
    )
    save_model(out, model, vocab, metrics=metrics)
    saved = [] if keeper is None else save_checkpoints(out, model, vocab, keeper, best_epoch=metrics["best_epoch"],
                                                         metrics=metrics)
    acc = metrics["test_accuracy"]
    summary = {
        "out": str(out),
        "dataset": metrics["dataset"],
        "test_accuracy": None if math.isnan(acc) else round(acc, 4),  # NaN when no test text is left
        "train_seconds": metrics["train_seconds"],
        "epochs_run": metrics["epochs_run"],
        "best_epoch": metrics["best_epoch"],
        "n_train": metrics["n_train"],
        "n_test": metrics["n_test"],
        **({"checkpoints": [{"epoch": c.epoch, "val_accuracy": c.val_accuracy} for c in saved]} if saved else {}),
    }
    if said:
        print(*said, sep="\n", file=sys.stderr, flush=True)
    print(json.dumps(summary), file=sys.stdout)
    return 0
