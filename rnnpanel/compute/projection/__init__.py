"""Projection backends behind one scikit-learn-like interface, ``auto`` selection and the scale strategy.

    from rnnpanel.compute.projection import AutoProjection, make_backend

    proj = AutoProjection(method="tsne", backend="auto", params={"perplexity": 30}, random_state=0)
    xy = proj.fit_transform(states, labels)        # labels only stratify large samples
    proj.backend_used_, proj.skipped_, proj.fitted_

    tsne = make_backend("opentsne", perplexity=30, random_state=0).fit(states)
    tsne.embedding_, tsne.transform(new_states)   # place live input into the same map

Backends: ``tsnecuda`` and ``cuml`` (GPU t-SNE), ``opentsne`` (tuned) and ``opentsne-default``
(openTSNE's own defaults), ``sklearn``, ``umap`` (umap-learn) and ``cuml-umap``, ``pca`` (torch,
any device). See :mod:`.base` for the shared parameters and :mod:`.scale` for large samples.

Names are importable cheaply (``METHODS``, ``BACKEND_NAMES``, ``AUTO_ORDER``, ``ALIASES``);
everything else is loaded on first use, so ``rnnpanel --help`` does not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from rnnpanel.compute.projection.names import (
    ALIASES,
    AUTO_ORDER,
    BACKEND_NAMES,
    METHODS,
)

_LAZY = {
    "AutoProjection": "auto",
    "ProgressCallback": "base",
    "ProjectionBackend": "base",
    "forget_probes": "gpu",
    "BACKENDS": "registry",
    "backend_class": "registry",
    "backend_names": "registry",
    "make_backend": "registry",
    "register_backend": "registry",
    "resolve_backend_name": "registry",
    "unavailable_reason": "registry",
    "ScaledProjection": "scale",
    "place_by_neighbors": "scale",
    "stratified_sample": "scale",
}

__all__ = [  # noqa: RUF022 - names first, then the lazily loaded API in _LAZY's order
    "ALIASES", "AUTO_ORDER", "BACKEND_NAMES", "METHODS",
    "AutoProjection", "ProgressCallback", "ProjectionBackend", "forget_probes", "BACKENDS", "backend_class",
    "backend_names", "make_backend", "register_backend", "resolve_backend_name", "unavailable_reason",
    "ScaledProjection", "place_by_neighbors", "stratified_sample",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
