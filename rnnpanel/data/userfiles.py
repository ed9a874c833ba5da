"""Load a user's own labelled texts from CSV, TSV, Parquet or JSON Lines.

Every way such a file can be wrong (missing, unknown type, missing column, not the format its
name claims, a single class, a split column with other values than train and test) becomes one
:class:`DataError` line that says what to change. How the rows were split is said in one line
(to the log, or to whoever :func:`reporting_splits` names), since the user did not choose it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np
import pandas as pd

from rnnpanel.data.building import Rows, corpus_from_official_split, corpus_from_seeded_split
from rnnpanel.data.corpus import Corpus
from rnnpanel.data.splitting import FileSplit, rows_marked_test
from rnnpanel.errors import DataError
from rnnpanel.hashing import file_sha256

logger = logging.getLogger(__name__)

#: File extension → format name.
FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".tab": "TSV",
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".jsonl": "JSON Lines",
    ".ndjson": "JSON Lines",
}
_TEXT_FORMATS = ("CSV", "TSV", "JSON Lines")
_INTEGER = re.compile(r"^-?[0-9]+$")


_REPORT: ContextVar[Callable[[str], None] | None] = ContextVar("rnnpanel_split_report", default=None)


@contextmanager
def reporting_splits(report: Callable[[str], None]) -> Iterator[None]:
    """While active, the line that says how a user file was split goes to ``report`` instead of the log.

    The command line prints it, so a user sees the split they did not choose and how to change it.
    """
    token = _REPORT.set(report)
    try:
        yield
    finally:
        _REPORT.reset(token)


def load_user_file(
    path: str | Path,
    *,
    text_column: str,
    label_column: str,
    test_fraction: float | None = None,
    seed: int | None = None,
    split_column: str | None = None,
) -> Corpus:
    """A corpus from the file at ``path``, split by ``split_column``'s values, else by class with ``seed``.

    Without a split column, ``test_fraction`` (default 0.2) of each class goes to test, drawn with
    ``seed`` (default 0); giving either beside a split column is an error. Rows with an empty or
    whitespace-only text or a missing label are dropped and counted in ``Corpus.provenance``.
    Class indices do not depend on the split: integer labels are ordered numerically, others by
    their text (code-point order), over every kept row.
    """
    split = FileSplit.from_options(column=split_column, test_fraction=test_fraction, seed=seed) or FileSplit()
    return load_user_file_split(path, text_column=text_column, label_column=label_column, split=split)


def load_user_file_split(path: str | Path, *, text_column: str, label_column: str, split: FileSplit) -> Corpus:
    """:func:`load_user_file` with the split already chosen (see :meth:`FileSplit.from_options`)."""
    path = Path(path).expanduser()
    fmt = _format_of(path)
    named = {"text_column": text_column, "label_column": label_column}
    if split.column is not None:
        named["split_column"] = split.column
    _check_distinct(named)
    frame = _read(path, fmt)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    for argument, column in named.items():
        if column not in columns:
            raise DataError(
                f"column {column!r} ({argument}) is not in {path.name}; its columns are: "
                f"{', '.join(columns) or '(none)'}; name one of them"
            )
    rows = Rows(
        texts=tuple(_text_value(v) for v in frame[text_column].tolist()),
        labels=_label_values(frame[label_column].tolist()),
    )
    provenance = {
        "dataset": path.name,
        "source": "user file",
        "path": str(path.resolve()),
        "sha256": file_sha256(path),
        "format": fmt,
        "text_column": text_column,
        "label_column": label_column,
        "n_rows_read": len(frame),
    }
    if split.column is None:
        corpus = corpus_from_seeded_split(
            path.name, rows, test_fraction=split.test_fraction, seed=split.seed, provenance=provenance
        )
    else:
        is_test = rows_marked_test([_text_value(v) for v in frame[split.column].tolist()], split.column)
        corpus = _corpus_by_column(path.name, rows, is_test, split.column, provenance)
    _announce(describe_split(corpus, split, label_column=label_column))
    return corpus


def describe_split(corpus: Corpus, split: FileSplit, *, label_column: str) -> str:
    """One line: how the file was split, the resulting sizes, dropped rows, and how to choose otherwise."""
    line = f"{corpus.name}: {split.describe(label_column)}: {len(corpus.train)} train, {len(corpus.test)} test"
    dropped = {why: _total(corpus.provenance.get(key, 0))
               for why, key in (("empty text", "dropped_empty_text"), ("missing label", "dropped_missing_label"))}
    if any(dropped.values()):
        line += " (dropped " + ", ".join(f"{n} with {why}" for why, n in dropped.items() if n) + ")"
    if split == FileSplit():
        line += "; use --split-column, --test-fraction or --split-seed to change"
    return line


def _total(count: int | dict) -> int:
    return sum(count.values()) if isinstance(count, dict) else int(count)


def _announce(line: str) -> None:
    report = _REPORT.get()
    if report is None:
        logger.info("%s", line)
    else:
        report(line)


def _check_distinct(named: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for argument, column in named.items():
        if column in seen:
            count = ("two", "three")[len(named) - 2]
            raise DataError(f"{seen[column]} and {argument} are both {column!r}; name {count} different columns")
        seen[column] = argument


def _corpus_by_column(name: str, rows: Rows, is_test: np.ndarray, column: str, provenance: dict) -> Corpus:
    """The file's own split: rows its split column marks test form the test split, the rest train."""
    parts = {side: Rows(tuple(t for t, s in zip(rows.texts, is_test, strict=True) if s == want),
                        tuple(v for v, s in zip(rows.labels, is_test, strict=True) if s == want))
             for side, want in (("train", False), ("test", True))}
    corpus = corpus_from_official_split(name, parts["train"], parts["test"], provenance)
    for side in ("train", "test"):
        if len(corpus.split(side)) == 0:
            raise DataError(
                f"split column {column!r} leaves no usable {side} row in {name}; mark some labelled rows {side}"
            )
    learnt = set(corpus.train.labels.tolist())
    unlearnt = [c for i, c in enumerate(corpus.class_names) if i not in learnt]
    if unlearnt:
        raise DataError(
            f"class(es) {unlearnt} of {name} have no train row in split column {column!r}, so the model "
            "could never learn them; mark some of their rows train"
        )
    return dataclasses.replace(corpus, provenance={**corpus.provenance, "split": "column", "split_column": column})


def _format_of(path: Path) -> str:
    if not path.exists():
        raise DataError(f"file {path} does not exist; check the path")
    if not path.is_file():
        raise DataError(f"{path} is not a file; give a CSV, TSV, Parquet or JSON Lines file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"unknown file type {path.suffix or '(no extension)'!r} of {path.name}; use one of "
            f"{', '.join(FORMATS)} (rename the file if it is one of these formats)"
        )
    return fmt


def _read(path: Path, fmt: str) -> pd.DataFrame:
    if fmt in _TEXT_FORMATS:
        with open(path, "rb") as handle:
            if b"\x00" in handle.read(8192):
                raise DataError(
                    f"{path.name} is not a {fmt} file: it contains binary data; give it the extension "
                    "of its real format"
                )
    try:
        if fmt == "CSV":
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if fmt == "TSV":
            return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if fmt == "Parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it with UTF-8 encoding"
        ) from None
    except Exception as exc:  # every reader has its own exception types; all mean "not this format"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"could not read {path.name} as {fmt} ({reason}); check that the file really is {fmt} "
            "and not damaged, or give it the extension of its real format"
        ) from None


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _text_value(value: object) -> str:
    if _is_missing(value):
        return ""
    return value if isinstance(value, str) else str(value)


def _label_values(values: list) -> tuple[Hashable | None, ...]:
    """Labels as ``int`` where they are whole numbers (so they sort numerically), else ``str``."""
    out: list[Hashable | None] = []
    for value in values:
        if _is_missing(value) or (isinstance(value, str) and not value.strip()):
            out.append(None)
        elif isinstance(value, (bool, np.bool_)):
            out.append(str(bool(value)))
        elif isinstance(value, (int, np.integer)):
            out.append(int(value))
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            out.append(int(value))
        else:
            out.append(str(value))
    present = [v for v in out if v is not None]
    if present and all(isinstance(v, str) and _INTEGER.match(v) and str(int(v)) == v for v in present):
        out = [None if v is None else int(v) for v in out]
    return tuple(out)
