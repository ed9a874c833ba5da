"""The view in the URL (entry, projection, layer, state kind, sequence, search), so that a link
shows a colleague the same view; a value the app cannot show is a notification, not a traceback.

The link is read from the session's request, not from Panel's ``Location`` (whose query arrives
from the browser only after the page is up, so syncing first would overwrite the link with the
defaults): the entry and what selects its sample (projection, layer, state kind) before the
session is built, so a link opens its own map directly, the sequence and search after; then
``Location.sync`` keeps the URL in step with every later change.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from rnnpanel.app.widgets import notify

#: Session parameter → URL query key.
URL_PARAMS = {"entry": "entry", "method": "projection", "layer": "layer", "state": "state",
              "sequence": "sequence", "search": "search", "compare": "compare", "layer_b": "layer_b",
              "epoch": "epoch"}
#: Those that decide the sample, applied when the session is built.
SAMPLE_PARAMS = ("entry", "method", "layer", "state")
INTEGER_PARAMS = ("layer", "sequence", "layer_b", "epoch")
#: Set once the session is built, in this order (B's layer and epoch before the comparison opens).
VIEW_PARAMS = ("layer_b", "epoch", "compare", "search", "sequence")


def query_values() -> dict[str, str]:
    """The URL's query values of :data:`URL_PARAMS`, by parameter name (empty outside a server)."""
    args = pn.state.session_args if pn.state.curdoc is not None else {}
    values = {}
    for name, key in URL_PARAMS.items():
        raw = args.get(key)
        if raw:
            value = raw[-1]
            values[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return values


def sample_choice(cls: type[param.Parameterized], link: dict[str, str], entries: list[str]) -> dict[str, Any]:
    """The ``link``'s entry, projection, layer and state kind (:func:`query_values`) that can be
    given to the session as it is built; the others are reported by :func:`apply_link`."""
    choice = {}
    for name in SAMPLE_PARAMS:
        value = _value(name, link)
        if value is None or (name == "entry" and value not in entries) or (
                name == "method" and value not in cls.param.method.objects):
            continue
        choice[name] = value
    return choice


def apply_link(app: param.Parameterized, link: dict[str, str]) -> None:
    """Open the ``link``'s comparison and select its sequence and search in the built session, then
    say which of its values the session could not show (an unknown entry, a layer the model lacks, a
    sequence beyond the map); values the session refused with a message of its own
    (``app.link_explained``: a comparison of other texts) are not named again."""
    for name in VIEW_PARAMS:
        value = _value(name, link)
        if value is not None and (name not in INTEGER_PARAMS or value >= -1):
            setattr(app, name, value)
    explained = getattr(app, "link_explained", ())
    refused = {name: raw for name, raw in link.items() if _serialized(app, name) != raw and name not in explained}
    if refused:
        shown = ", ".join(f"{URL_PARAMS[k]}={html.escape(v)}" for k, v in refused.items())
        notify(f"This link asks for {shown}, which this server cannot show; showing the nearest view instead.",
               level="warning")


def link_to_url(app: param.Parameterized) -> None:
    """Keep the URL's query in step with the session's view from now on (served pages only)."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:      # not a page of a running server
        return
    location = pn.state.location
    location.sync(app, URL_PARAMS, on_error=lambda values: notify(
        f"This address asks for {html.escape(str(values))}, which this server cannot show.", level="warning"))


def _value(name: str, link: dict[str, str]) -> Any:
    """The link's value of parameter ``name`` (a whole number for the layer and the sequence), or
    None when it is absent or malformed."""
    if name not in link:
        return None
    if name not in INTEGER_PARAMS:
        return link[name]
    try:
        return int(link[name])
    except ValueError:
        return None


def _serialized(app: param.Parameterized, name: str) -> str:
    """The session's value of ``name`` as the URL writes it."""
    value = getattr(app, name)
    return str(int(value)) if name in INTEGER_PARAMS else str(value)
