"""Where rnnpanel keeps downloaded corpora, models and stores.

Everything lives under ``$RNNPANEL_HOME`` (default ``~/.cache/rnnpanel``) so a user can move
or wipe it in one place; nothing is written next to the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root folder for caches, read from ``RNNPANEL_HOME`` at call time (tests override it)."""
    return Path(os.environ.get("RNNPANEL_HOME", Path.home() / ".cache" / "rnnpanel")).expanduser()


def data_cache() -> Path:
    return home() / "data"


def models_dir() -> Path:
    return home() / "models"


def default_store() -> Path:
    return home() / "store"
