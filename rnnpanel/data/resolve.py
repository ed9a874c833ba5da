"""One entry point for "the dataset the user named": a registered corpus or a path to a file."""

from __future__ import annotations

from pathlib import Path

from rnnpanel.data.corpora import load_corpus
from rnnpanel.data.corpus import Corpus
from rnnpanel.data.registry import REGISTRY
from rnnpanel.data.userfiles import FORMATS, load_user_file
from rnnpanel.errors import DataError


def resolve_corpus(
    dataset: str,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    progress: bool = True,
) -> Corpus:
    """Load ``dataset``: a registered name, else a CSV/TSV/Parquet/JSONL file with named columns."""
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
        return load_user_file(path, text_column=text_column, label_column=label_column)
    looks_like_file = path.suffix.lower() in FORMATS or "/" in dataset or "\\" in dataset
    if looks_like_file:
        raise DataError(f"file {dataset} does not exist; check the path")
    raise DataError(
        f"unknown dataset {dataset!r}; choose one of {', '.join(REGISTRY)} "
        "or give a path to a CSV/TSV/Parquet/JSONL file"
    )
