"""Backend names → classes, the order ``auto`` walks, and how a (method, backend) request is resolved.

Importing this module imports no GPU library: backend modules import theirs inside
``check_available``/``fit``.
"""

from __future__ import annotations

from typing import Any

from rnnpanel.compute.projection.base import ProjectionBackend
from rnnpanel.compute.projection.cuml_backend import CumlTSNE, CumlUMAP
from rnnpanel.compute.projection.names import (
    ALIASES,
    AUTO_ORDER,
    METHODS,
    check_method,
    resolve_name,
)
from rnnpanel.compute.projection.opentsne import OpenTSNEDefault, OpenTSNEProjection
from rnnpanel.compute.projection.pca import PCAProjection
from rnnpanel.compute.projection.sklearn_tsne import SklearnTSNE
from rnnpanel.compute.projection.tsnecuda_backend import TsneCudaProjection
from rnnpanel.compute.projection.umap_backend import UMAPProjection
from rnnpanel.errors import BackendUnavailable

BACKENDS: dict[str, type[ProjectionBackend]] = {}

__all__ = ["ALIASES", "AUTO_ORDER", "BACKENDS", "backend_class", "backend_names", "check_method", "make_backend",
           "register_backend", "resolve_backend_name", "unavailable_reason"]


def register_backend(cls: type[ProjectionBackend], *, replace: bool = False) -> type[ProjectionBackend]:
    """Add a backend class under ``cls.name`` (usable as a decorator)."""
    if not cls.name or cls.method not in METHODS:
        raise ValueError(f"a backend needs a name and a method in {METHODS}; got {cls.name!r}, {cls.method!r}")
    if cls.name in BACKENDS and not replace and BACKENDS[cls.name] is not cls:
        raise ValueError(f"a backend named {cls.name!r} is already registered")
    BACKENDS[cls.name] = cls
    return cls


for _cls in (TsneCudaProjection, CumlTSNE, CumlUMAP, OpenTSNEProjection, OpenTSNEDefault, SklearnTSNE,
             UMAPProjection, PCAProjection):
    register_backend(_cls)


def backend_names(method: str | None = None) -> list[str]:
    """Registered backend names, optionally only those of one method."""
    return [name for name, cls in BACKENDS.items() if method is None or cls.method == method]


def backend_class(name: str) -> type[ProjectionBackend]:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown projection backend {name!r}; choose auto or one of {', '.join(BACKENDS)}") from None


def resolve_backend_name(method: str, backend: str) -> str:
    """The registered name for ``backend`` under ``method`` ("auto" stays "auto"), registered extras included."""
    return resolve_name(method, backend, {name: cls.method for name, cls in BACKENDS.items()})


def unavailable_reason(name: str) -> str | None:
    """None when backend ``name`` can run here, else why not (never raises for a registered name)."""
    try:
        backend_class(name).check_available()
    except BackendUnavailable as exc:
        return str(exc)
    return None


def make_backend(name: str, **params: Any) -> ProjectionBackend:
    """An unfitted backend; unknown parameter names raise ``ValueError`` listing the accepted ones."""
    cls = backend_class(name)
    accepted = cls._get_param_names()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"backend {name!r} does not take {', '.join(unknown)}; it takes {', '.join(accepted)}")
    return cls(**params)
