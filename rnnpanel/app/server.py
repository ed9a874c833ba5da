"""Serving the app: which store, warming the shared cache, and starting a Panel server."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from rnnpanel import paths
from rnnpanel.errors import DamagedEntry, RnnpanelError

log = logging.getLogger(__name__)

STORE_ENV = "RNNPANEL_STORE"
RASTER_ENV = "RNNPANEL_RASTER_ABOVE"
#: Panel extensions the page loads. Panel's plain design, not the Bootstrap one: Bootstrap's
#: scripts and style sheets cost about 0.3 s of every first page load in Chromium here.
EXTENSIONS = ("tabulator",)


def configured_store() -> Path:
    """The store the served app reads: ``$RNNPANEL_STORE`` or the default store."""
    return Path(os.environ.get(STORE_ENV) or paths.default_store())


def configured_params() -> dict:
    """App parameters set for the whole server: ``$RNNPANEL_RASTER_ABOVE`` (states above which the
    projection is drawn as an image)."""
    value = os.environ.get(RASTER_ENV, "").strip()
    if not value:
        return {}
    if not value.isdigit():
        raise RnnpanelError(f"{RASTER_ENV} must be a whole number of states (e.g. 20000), got {value!r}")
    return {"raster_above": int(value)}


#: Bokeh's check of every new session's document, off unless the environment asks for it.
VALIDATE_ENV = "BOKEH_VALIDATE_DOC"


def prepare_server(store_root: str | Path | None = None) -> None:
    """What a serving process does once before its first session: check ``$RNNPANEL_READY_APPS``,
    warm the shared caches, skip Bokeh's validation of each session's document (its model graph
    is the same for every session and checked by the tests; the check was a sixth of a session's
    server time, measured in benchmarks/RESULTS.md; ``BOKEH_VALIDATE_DOC=true`` turns it back on),
    and install the workarounds for Bokeh and Panel (:mod:`rnnpanel.app.upstream`)."""
    from rnnpanel.app import ready_apps, upstream

    ready_apps.configured_size()
    os.environ.setdefault(VALIDATE_ENV, "false")
    upstream.install()
    warm_caches(store_root)


def warm_caches(store_root: str | Path | None = None) -> None:
    """Load every entry's default sample once (the top layer's h, with a stored projection when
    there is one) with its word index, so the first session and search do not wait. A map the
    store lacks (a new entry, or one projected by an older placement) is computed in a child
    process first, so its gigabytes are never the server's. An entry found damaged meanwhile is
    marked for the sessions to come (:mod:`rnnpanel.app.damaged_entries`): they open on a good one."""
    from rnnpanel.app.damaged_entries import DAMAGED
    from rnnpanel.pipeline.load import list_entries
    from rnnpanel.pipeline.states import EntryStates
    from rnnpanel.pipeline.word_index import word_index
    from rnnpanel.store import StateStore

    store = StateStore(store_root or configured_store())
    for key, label in list_entries(store):
        try:
            states = EntryStates(store.entry(key).states(layer=-1, kind="h"))
            method = states.preferred_method()
            if states.store_map(method, _progress_log(label)):
                log.info("stored the %s map of %s", method, label)
            word_index(states.sample(method=method))
            log.info("warmed %s (%s)", label, method)
        except DamagedEntry as exc:
            DAMAGED.mark(store.root, exc.key, str(exc))
        except RnnpanelError as exc:
            log.warning("could not warm %s: %s", label, exc)


def _progress_log(label: str):
    """A ``report(fraction, message)`` that logs a map's progress at start-up, every tenth of it."""
    logged = [-1]

    def report(fraction: float, message: str = "") -> None:
        tenth = int(10 * fraction)
        if tenth > logged[0]:
            logged[0] = tenth
            log.info("%s: %3.0f %% %s", label, 100 * fraction, message)

    return report


#: Addresses only this machine reaches (None: Bokeh's default, every interface, but only local origins).
LOCAL_ADDRESSES = (None, "", "localhost", "127.0.0.1", "::1")


def check_origins(address: str | None, port: int, origins: list[str] | None) -> None:
    """Refuse a non-local ``address`` without allowed websocket ``origins``: other machines would
    load the page and then be refused its websocket (a blank page, a 403 in the server log)."""
    if address not in LOCAL_ADDRESSES and not origins:
        raise RnnpanelError(
            f"serving on {address} lets other machines connect, but Bokeh refuses their browsers' websocket "
            f"unless their origin is allowed: add --allow-websocket-origin HOST:{port} (the host name they "
            f"type, e.g. {socket.gethostname()}:{port}; repeat it for several; `panel serve apps/` takes the same "
            "option), or serve on 127.0.0.1")


def serve_page(app) -> None:
    """Make ``app`` this session's page (as ``.servable()`` does)."""
    app.servable(title="rnnpanel")


def serve(store_root: str | Path, *, port: int = 5006, address: str | None = None, show: bool = True,
          threaded: bool = False, raster_above: int | None = None, allow_websocket_origin: list[str] | None = None,
          **kwargs):
    """Serve the app at ``/apps`` (as `panel serve apps/` does) and return the server."""
    import panel as pn

    check_origins(address, port, allow_websocket_origin)
    if allow_websocket_origin:
        kwargs["websocket_origin"] = list(allow_websocket_origin)

    from rnnpanel.app.new_session import create_app

    os.environ[STORE_ENV] = str(store_root)
    params = configured_params() if raster_above is None else {"raster_above": int(raster_above)}
    pn.extension(*EXTENSIONS, notifications=True)
    prepare_server(store_root)

    def page() -> None:
        serve_page(create_app(store_root, **params))

    return pn.serve({"apps": page}, port=port, address=address, show=show, threaded=threaded,
                    title="rnnpanel", **kwargs)
