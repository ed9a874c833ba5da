"""Names only (no imports): methods, backend names, aliases and the order ``auto`` walks.

Kept apart so that the command line can list choices without importing torch or scikit-learn.
The registry checks that the classes it registers match these names.
"""

from __future__ import annotations

METHODS: tuple[str, ...] = ("tsne", "umap", "pca")

BACKEND_METHODS: dict[str, str] = {
    "tsnecuda": "tsne", "cuml": "tsne", "cuml-umap": "umap", "opentsne": "tsne", "opentsne-default": "tsne",
    "sklearn": "tsne", "umap": "umap", "pca": "pca",
}
BACKEND_NAMES: tuple[str, ...] = tuple(BACKEND_METHODS)

AUTO_ORDER: dict[str, tuple[str, ...]] = {
    # cuML first: its FFT t-SNE is the fastest published (0.37 s for 100k points with cuML 26.x,
    # against 8.4 s for 60k with tsnecuda 4.x); tsnecuda stays as the GPU fallback.
    "tsne": ("cuml", "tsnecuda", "opentsne", "sklearn"),
    "umap": ("cuml-umap", "umap"),
    "pca": ("pca",),
}

# Names a user may type for a method whose backend is registered under another name.
ALIASES: dict[tuple[str, str], str] = {
    ("umap", "cuml"): "cuml-umap",
    ("umap", "umap-learn"): "umap",
    ("pca", "torch"): "pca",
}


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def resolve_name(method: str, backend: str, methods: dict[str, str] | None = None) -> str:
    """The registered name for ``backend`` under ``method`` ("auto" stays "auto").

    ``methods`` maps backend names to their method (default: the built-in backends).
    """
    check_method(method)
    if backend == "auto":
        return backend
    known = BACKEND_METHODS if methods is None else methods
    name = ALIASES.get((method, backend), backend)
    if name not in known:
        raise ValueError(f"unknown projection backend {backend!r}; choose auto or one of {', '.join(known)}")
    if known[name] != method:
        others = [n for n, m in known.items() if m == method]
        raise ValueError(f"backend {backend!r} computes {known[name]}, not {method}; for {method} choose auto or "
                         f"{', '.join(others)}")
    return name
