"""Serving the app: which store, warming the shared cache, and starting a Panel server."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from rnnpanel import paths
from rnnpanel.errors import RnnpanelError

log = logging.getLogger(__name__)

STORE_ENV = "RNNPANEL_STORE"


def configured_store() -> Path:
    """The store the served app reads: ``$RNNPANEL_STORE`` or the default store."""
    return Path(os.environ.get(STORE_ENV) or paths.default_store())


def warm_caches(store_root: str | Path | None = None) -> None:
    """Load every entry's default sample once, so the first session opens without waiting."""
    from rnnpanel.pipeline.load import list_entries, load_sample

    root = Path(store_root or configured_store())
    for key, label in list_entries(root):
        try:
            load_sample(root, key)
            log.info("warmed %s", label)
        except RnnpanelError as exc:
            log.warning("could not warm %s: %s", label, exc)


def serve(store_root: str | Path, *, port: int = 5006, address: str | None = None, show: bool = True,
          threaded: bool = False, **kwargs):
    """Serve the app at ``/apps`` (as `panel serve apps/` does) and return the server."""
    import panel as pn

    from rnnpanel.app.session import create_app

    os.environ[STORE_ENV] = str(store_root)
    pn.extension("tabulator", notifications=True, design="bootstrap")
    warm_caches(store_root)

    def page():
        return create_app(store_root)

    return pn.serve({"apps": page}, port=port, address=address, show=show, threaded=threaded,
                    title="rnnpanel", **kwargs)
