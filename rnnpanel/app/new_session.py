"""The app a new session gets: one built for it, showing the link it was opened with, or, without
a link, one built ahead of it when the process has one ready (:mod:`rnnpanel.app.ready_apps`)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import panel as pn

from rnnpanel import paths
from rnnpanel.app import ready_apps
from rnnpanel.app.damaged_entries import entry_choices
from rnnpanel.app.deep_link import apply_link, query_values, sample_choice
from rnnpanel.app.session import RnnPanelApp
from rnnpanel.store import StateStore


def create_app(store_root: str | Path | None = None, **params) -> RnnPanelApp:
    """The application object ``apps/main.py`` and ``rnnpanel serve`` make servable; a link's
    entry and projection are shown at once (:mod:`rnnpanel.app.deep_link`). A served session
    without a link takes an app built ahead of it when one is ready (:mod:`rnnpanel.app.ready_apps`)."""
    root = Path(store_root or paths.default_store())
    link = query_values()
    entries = entry_choices(StateStore(root))      # damaged ones too, marked
    if not link and getattr(pn.state.curdoc, "session_context", None) is not None:
        pool = ready_apps.pool_for((str(root.resolve()), tuple(sorted(params.items()))),
                                   build=partial(_built_ahead, root, params),
                                   fingerprint=lambda app: app.entries_listed)
        app = pool.take(tuple(entries)) if pool is not None else None
        if app is not None:
            return app.for_session()
    keys = [choice.key for choice in entries]
    app = RnnPanelApp(store_root=root, **{**sample_choice(RnnPanelApp, link, keys), **params})
    apply_link(app, link)
    return app


def _built_ahead(store_root: Path, params: dict) -> RnnPanelApp | None:
    """An app of the default view for a session to come; None if it shows no map (its session
    builds its own and gets the notification why)."""
    app = RnnPanelApp(store_root=store_root, ahead=True, **params)
    return app if app.sample is not None else None
