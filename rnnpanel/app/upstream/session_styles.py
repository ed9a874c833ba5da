"""A served session's Panel style sheets come from this server, whichever process made the session.

Panel points its style sheets at the server only when it renders a session's HTML page
(docs/upstream/panel-websocket-session-styles.md). A session whose websocket reaches another
process than its page did (`panel serve --num-procs`, or several servers behind a proxy) is made
from the websocket alone and got the CDN's addresses: an offline machine's browser could not load
them and spun a core retrying (benchmarks/RESULTS.md, "Many users opening the app at once").
"""

from __future__ import annotations


def serve_styles_locally(doc) -> None:
    """Have the session's Panel style sheets point at this server, as Panel has them for a page it
    renders. Called when the session is created, before its models are made, which then take the
    server's address (Panel reads it from the document as it makes each model), so nothing is
    walked and patched afterwards. Nothing to do when the server was told to use the CDN (Bokeh's
    ``resources`` setting)."""
    from bokeh.settings import settings
    from panel.io.resources import LOCAL_DIST
    from panel.io.state import state

    if doc is None or doc.session_context is None or settings.resources(default="server") != "server":
        return
    doc._template_variables["dist_url"] = f"{state.rel_path}/{LOCAL_DIST}" if state.rel_path else LOCAL_DIST
