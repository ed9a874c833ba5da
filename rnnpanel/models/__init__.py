"""Recurrent classifiers: the model, its config, save/load without pickle, training, and adapters.

Training lives in :mod:`rnnpanel.models.training` and bring-your-own-model conversion in
:mod:`rnnpanel.models.adapter`. Names are resolved lazily, so that importing the light
:mod:`rnnpanel.models.config` (the command line's choices) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PAD_ID": "classifier",
    "RecurrentClassifier": "classifier",
    "ModelConfig": "config",
    "LoadedModel": "io",
    "load_model": "io",
    "save_model": "io",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
