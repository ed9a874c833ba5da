"""Two models' answers on the same sequences, and two maps of corresponding states, compared.

Pure NumPy over arrays a store entry holds (predictions, final probabilities, EP per step, 2-D
maps), so every figure of ``rnnpanel compare`` can be recomputed from the two entries alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Two EP curves "part" at the first step where their total variation distance (half the L1
#: distance between the two class distributions: the probability mass that would have to move)
#: exceeds this: a quarter of the mass, well above the wobble of two similar models.
PARTING_THRESHOLD = 0.25


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Half the L1 distance between distributions along the last axis (0: equal, 1: disjoint)."""
    return 0.5 * np.abs(np.asarray(p, dtype=np.float64) - np.asarray(q, dtype=np.float64)).sum(axis=-1)


def confusion(pred_a: np.ndarray, pred_b: np.ndarray, n_classes: int) -> np.ndarray:
    """``(C, C)`` counts: row = A's prediction, column = B's."""
    table = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(table, (np.asarray(pred_a, dtype=np.int64), np.asarray(pred_b, dtype=np.int64)), 1)
    return table


def accuracy_by_class(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[float, list[float | None]]:
    """Overall accuracy, and per true class (None for a class without sequences)."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    per_class = [float(np.mean(pred[labels == c] == c)) if np.any(labels == c) else None for c in range(n_classes)]
    return float(np.mean(pred == labels)) if len(labels) else float("nan"), per_class


def parting_steps(ep_a: np.ndarray, ep_b: np.ndarray, offsets: np.ndarray,
                  threshold: float = PARTING_THRESHOLD) -> np.ndarray:
    """Per sequence, the first step (0-based) where the two EP curves differ by more than
    ``threshold`` in total variation; -1 where they never do.

    ``ep_a``/``ep_b`` are ``(N, C)`` over the same steps (the sequences read the same tokens),
    ``offsets`` ``(S + 1,)``.
    """
    apart = total_variation(ep_a, ep_b) > threshold
    offsets = np.asarray(offsets, dtype=np.int64)
    firsts = np.full(len(offsets) - 1, -1, dtype=np.int64)
    rows = np.flatnonzero(apart)
    if len(rows):
        seq = np.searchsorted(offsets, rows, side="right") - 1
        first_rows = np.full(len(firsts), -1, dtype=np.int64)
        # the first apart row of each sequence: rows are increasing, so the first of each run of seq
        starts = np.r_[True, seq[1:] != seq[:-1]]
        first_rows[seq[starts]] = rows[starts]
        has = first_rows >= 0
        firsts[has] = first_rows[has] - offsets[:-1][has]
    return firsts


@dataclass(frozen=True)
class Alignment:
    """How a map B is brought onto a map A of corresponding states: ``B @ rotation * scale + shift``."""

    rotation: np.ndarray
    scale: float
    shift: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) @ self.rotation * self.scale + self.shift


def procrustes(a: np.ndarray, b: np.ndarray) -> Alignment:
    """The rotation (or reflection), uniform scale and shift that bring ``b`` closest to ``a`` in
    least squares (orthogonal Procrustes): t-SNE's maps are free up to exactly these."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - mean_a, b - mean_b
    u, sigma, vt = np.linalg.svd(b0.T @ a0)
    rotation = u @ vt
    norm = float((b0 ** 2).sum())
    scale = float(sigma.sum() / norm) if norm > 0 else 1.0
    return Alignment(rotation, scale, mean_a - (mean_b @ rotation) * scale)


def median_displacement(a: np.ndarray, b: np.ndarray) -> float:
    """Median distance between corresponding points of two maps, as a fraction of map A's extent
    (the diagonal of its bounding box): comparable across maps of any scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    extent = float(np.linalg.norm(a.max(axis=0) - a.min(axis=0))) or 1.0
    return float(np.median(np.linalg.norm(a - b, axis=1)) / extent)
