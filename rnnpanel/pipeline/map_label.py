"""What the app says about a stored map: its method, the backend that made it, and how (fitted, placed, refined)."""

from __future__ import annotations

from typing import Any

METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}
BACKEND_NAMES = {"opentsne": "openTSNE", "opentsne-default": "openTSNE (defaults)", "cuml": "cuML",
                 "cuml-umap": "cuML", "tsnecuda": "tsnecuda", "sklearn": "scikit-learn", "umap": "umap-learn",
                 "pca": "torch"}


def map_label(attrs: dict[str, Any]) -> str:
    """E.g. "t-SNE · openTSNE, 250,000 fitted + placed, refined", "t-SNE · cuML", "PCA · torch".

    From a stored map's attributes: ``method``, ``backend_used``, ``n_fitted`` and ``n_states``,
    ``placement`` ("none", "neighbors", "neighbors+refine", "neighbors+refined", "transform").
    """
    method = str(attrs.get("method", ""))
    backend = str(attrs.get("backend_used", ""))
    label = f"{METHOD_NAMES.get(method, method)} · {BACKEND_NAMES.get(backend, backend or 'unknown backend')}"
    placement = str(attrs.get("placement") or "none")
    n_fitted, n_states = attrs.get("n_fitted"), attrs.get("n_states")
    if placement != "none" and n_fitted is not None and n_fitted != n_states:
        label += f", {int(n_fitted):,} fitted + placed"
        if placement.startswith("neighbors+refine"):
            label += ", refined"
    return label
