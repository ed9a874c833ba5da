"""The view in the URL (entry, projection, layer, state kind, sequence, search), so that a link
shows a colleague the same view; a value the app cannot show is a notification, not a traceback.

The entry and what selects its sample (projection, layer, state kind) are read before the
session is built, so a link opens its own map directly instead of the default one first; the
rest, and every later change, goes through Panel's ``Location.sync``.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from rnnpanel.app.widgets import notify

#: Session parameter → URL query key.
URL_PARAMS = {"entry": "entry", "method": "projection", "layer": "layer", "state": "state",
              "sequence": "sequence", "search": "search"}
#: Those that decide the sample, applied when the session is built.
SAMPLE_PARAMS = ("entry", "method", "layer", "state")


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


def sample_choice(cls: type[param.Parameterized], entries: list[str]) -> dict[str, Any]:
    """The link's entry, projection, layer and state kind that can be applied as the session is
    built; the others are left to :func:`link_to_url` (which reports them)."""
    values, choice = query_values(), {}
    for name in SAMPLE_PARAMS:
        if name not in values:
            continue
        try:
            value = cls.param[name].deserialize(values[name])
        except Exception:       # noqa: BLE001 -- any malformed value is only reported, by link_to_url
            continue
        if name == "entry" and value not in entries:
            continue
        if name == "layer" and not isinstance(value, int):
            continue
        choice[name] = value
    return choice


def link_to_url(app: param.Parameterized) -> None:
    """Keep the URL's query in step with the session's view, both ways (served pages only)."""
    location = pn.state.location
    if location is None or not pn.state.served:
        return

    def refused(values: dict[str, Any]) -> None:
        shown = ", ".join(f"{URL_PARAMS.get(k, k)}={html.escape(str(v))}" for k, v in values.items())
        notify(f"This link asks for {shown}, which this server cannot show; showing the nearest view instead.",
               level="warning")

    location.sync(app, URL_PARAMS, on_error=refused)
