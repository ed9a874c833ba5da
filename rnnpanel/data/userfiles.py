"""Load a user's own labelled texts from CSV, TSV, Parquet or JSON Lines.

Every way such a file can be wrong (missing, unknown type, missing column, not the format its
name claims, a single class) becomes one :class:`DataError` line that says what to change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from pathlib import Path

import numpy as np
import pandas as pd

from rnnpanel.data.building import Rows, corpus_from_seeded_split
from rnnpanel.data.corpus import Corpus
from rnnpanel.hashing import file_sha256
from rnnpanel.errors import DataError

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


def load_user_file(
    path: str | Path,
    *,
    text_column: str,
    label_column: str,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Corpus:
    """A corpus from the file at ``path``, split by class with ``seed``.

    Rows with an empty or whitespace-only text or a missing label are dropped and counted in
    ``Corpus.provenance``. Integer labels are ordered numerically, others alphabetically.
    """
    path = Path(path).expanduser()
    fmt = _format_of(path)
    if text_column == label_column:
        raise DataError(
            f"text_column and label_column are both {text_column!r}; name two different columns"
        )
    frame = _read(path, fmt)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    for argument, column in (("text_column", text_column), ("label_column", label_column)):
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
    return corpus_from_seeded_split(
        path.name, rows, test_fraction=test_fraction, seed=seed, provenance=provenance
    )


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
