"""One entry point for "the dataset the user named": a registered corpus or a path to a file."""

from __future__ import annotations

from pathlib import Path

from rnnpanel.data.corpora import load_corpus
from rnnpanel.data.corpus import Corpus
from rnnpanel.data.registry import REGISTRY
from rnnpanel.data.splitting import FileSplit
from rnnpanel.data.userfiles import FORMATS, load_user_file_split
from rnnpanel.errors import DataError


def resolve_corpus(
    dataset: str,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    split: FileSplit | None = None,
    progress: bool = True,
) -> Corpus:
    """Load ``dataset``: a registered name, else a CSV/TSV/Parquet/JSONL file with named columns.

    ``split`` is how a file's rows become train and test (``None``: the default 80/20 stratified
    split, seed 0); a registered corpus has its own split, so giving one for it is an error.
    """
    check_split_applies(dataset, split)
    if dataset in REGISTRY:
        return load_corpus(dataset, progress=progress)
    path = Path(dataset).expanduser()
    if path.is_file():
        missing = [
            option
            for option, value in (("text column", text_column), ("label column", label_column))
            if not value
        ]
        if missing:
            raise DataError(
                f"{dataset} is a file: name its {' and '.join(missing)} "
                "(--text-column / --label-column on the command line)"
            )
        return load_user_file_split(path, text_column=text_column, label_column=label_column,
                                    split=split or FileSplit())
    looks_like_file = path.suffix.lower() in FORMATS or "/" in dataset or "\\" in dataset
    if looks_like_file:
        raise DataError(f"file {dataset} does not exist; check the path")
    raise DataError(
        f"unknown dataset {dataset!r}; choose one of {', '.join(REGISTRY)} "
        "or give a path to a CSV/TSV/Parquet/JSONL file"
    )


def check_split_applies(dataset: str, split: FileSplit | None) -> None:
    """Refuse split options for a registered corpus, whose split is fixed (and pinned in stored entries)."""
    if split is not None and dataset in REGISTRY:
        raise DataError(
            f"{dataset} is a registered corpus with its own train/test split; --split-column, --test-fraction "
            "and --split-seed apply only to a file of your own"
        )


def split_mismatch(dataset: str, split: FileSplit | None, trained: dict) -> str | None:
    """Why this split of ``dataset`` is not the one a model was trained on (``trained`` is the
    ``corpus_provenance`` its training recorded), or ``None`` when it is or cannot be told.

    A different split of the same file puts rows the model learnt from into the test split,
    which would silently flatter its accuracy and its picture of unseen text.
    """
    if trained.get("source") != "user file" or trained.get("dataset") != Path(dataset).expanduser().name:
        return None
    if trained.get("split") == "column":
        used = FileSplit(column=trained.get("split_column"))
    elif trained.get("split") == "stratified" and "test_fraction" in trained and "seed" in trained:
        used = FileSplit(test_fraction=trained["test_fraction"], seed=trained["seed"])
    else:
        return None
    asked = split or FileSplit()
    if asked == used:
        return None
    label = str(trained.get("label_column", "label"))
    return (
        f"the model was trained on a {used.describe(label)} of {trained['dataset']}, but this uses a "
        f"{asked.describe(label)}, so its test rows may include training rows; give the same split options as to train"
    )
