"""Fragility in the sequence table and each class's flip words (docs/design.md, What if), as data.

The table's ``fragile`` column holds, per sequence, how many removed words flip its prediction
(the greedy search of :func:`rnnpanel.pipeline.importance.fragility`). It stays numeric so that
the server sorts and filters it as numbers: ``limit + 1`` means "no flip within the limit" (shown
as ``> limit``, sorting after every number) and NaN means "not computed yet" (shown as ``…``);
a lookup formatter in the browser turns the numbers into those labels.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from rnnpanel.pipeline.importance import Fragility

FRAGILE = "fragile"
PENDING = "…"


def fragile_values(fragility: Fragility | None, n_sequences: int) -> np.ndarray:
    """``(S,)`` float: removals that flip each sequence (``limit + 1``: none within the limit); NaN
    for every sequence while ``fragility`` is None."""
    if fragility is None:
        return np.full(n_sequences, np.nan)
    if len(fragility.removals) != n_sequences:
        raise ValueError(f"fragility of {len(fragility.removals)} sequences for a table of {n_sequences}")
    return np.asarray(fragility.removals, dtype=float)


def with_fragile(rows: pd.DataFrame, fragility: Fragility | None) -> pd.DataFrame:
    """The sequence table ``rows`` (one per sequence, in the entry's order, as
    :func:`rnnpanel.views.overview.sequence_frame` makes them) with the ``fragile`` column after
    ``correct`` (pending while ``fragility`` is None); ``rows`` itself is left as it is (shared)."""
    out = rows.copy(deep=False)
    out.insert(list(rows.columns).index("correct") + 1, FRAGILE, fragile_values(fragility, len(rows)))
    return out


def fragile_label(value: float, limit: int) -> str:
    """What the column shows for ``value``: the count, ``> limit``, or the pending mark."""
    if np.isnan(value):
        return PENDING
    return f"> {limit}" if value > limit else str(int(value))


def fragile_formatter(limit: int) -> dict:
    """Tabulator's lookup formatter of the column: each possible value to its label (a float arrives
    in the browser as a number, ``2.0`` as ``2``; NaN as NaN or null)."""
    labels = {str(k): fragile_label(float(k), limit) for k in range(limit + 2)}
    return {"type": "lookup", **labels, "NaN": PENDING, "null": PENDING, "": PENDING}


def fragile_filter() -> dict:
    """The column's header filter: a number; the table keeps the sequences flipped by at most that
    many removals (``limit + 1`` keeps those with no flip within the limit too)."""
    return {"type": "number", "func": "<=", "placeholder": "≤"}


def flip_words_html(fragility: Fragility, class_names: tuple[str, ...] | list[str], top: int = 10) -> str:
    """Per class predicted, the words whose removal most often took part in flipping its predictions:
    ``flips`` of the ``sequences`` of that class holding the word (escaped: words are data)."""
    n_seq = len(fragility.removals)
    flipped = fragility.flipped
    parts = [f"<p>Of <b>{n_seq:,}</b> sequences, <b>{int(flipped.sum()):,}</b> flip when at most "
             f"{fragility.limit} words are removed (greedy search). Per class predicted, the words those "
             "edits removed most often: <i>flips</i> of the <i>sequences</i> predicted as that class "
             "that hold the word.</p><div style='display:flex;flex-wrap:wrap;gap:18px'>"]
    for c, name in enumerate(class_names):
        rows = fragility.flip_words.get(name, [])[:top]
        predicted = int((np.asarray(fragility.predicted) == c).sum())
        flips = int((flipped & (np.asarray(fragility.predicted) == c)).sum())
        head = (f"<caption style='text-align:left'><b>predicted {html.escape(str(name))}</b>: {flips:,} of "
                f"{predicted:,} flip</caption>")
        body = "".join(
            f"<tr><td>{html.escape(str(r['word']))}</td><td style='text-align:right'>{int(r['flips']):,}</td>"
            f"<td style='text-align:right'>{int(r['sequences']):,}</td>"
            f"<td style='text-align:right'>{100 * float(r['share']):.0f} %</td></tr>" for r in rows)
        if not rows:
            body = "<tr><td colspan='4' class='rp-hint'>no flip found</td></tr>"
        parts.append(f"<table class='rp-flip-words' data-class='{html.escape(str(name), quote=True)}' "
                     "style='border-collapse:collapse;min-width:260px' cellpadding='3'>"
                     f"{head}<tr><th style='text-align:left'>word</th><th>flips</th><th>of sequences</th>"
                     f"<th>share</th></tr>{body}</table>")
    parts.append("</div>")
    return "".join(parts)
