"""A session made from its websocket alone, as a process that did not serve the page makes it
(`panel serve --num-procs`, or several servers behind a proxy): its style sheets come from this
server, not a CDN an offline machine cannot reach."""

from __future__ import annotations

import threading

from bokeh.client import pull_session
from bokeh.models import ImportedStyleSheet


def test_a_session_made_from_its_websocket_serves_its_style_sheets_itself(server):
    urls: list[str] = []

    def pull() -> None:         # in a thread of its own: the test process may run a loop in this one
        with pull_session(url=server) as session:
            urls.extend(m.url for m in session.document.models if isinstance(m, ImportedStyleSheet))

    worker = threading.Thread(target=pull)
    worker.start()
    worker.join(timeout=60)
    assert urls                                                   # Panel's theme and layout sheets
    assert not [u for u in urls if u.startswith("http")], urls   # all relative to this server


def test_what_such_a_session_gets_after_its_first_page_is_served_from_here_too():
    """The tabs and settings arrive after the first page: Panel makes their style sheets from what
    the session's document says of the server, which a page's HTML used to set alone."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from rnnpanel.app.server import serve_styles_locally

    from types import SimpleNamespace

    class Served:              # a served session's context, as far as these functions read it
        id, request = "s", SimpleNamespace(arguments={}, headers={}, cookies={})

    doc = Document()
    doc._session_context = lambda: Served()
    with set_curdoc(doc):
        doc.add_root(pn.Column(pn.pane.HTML("first page")).get_root(doc))
        serve_styles_locally(doc)
        later = pn.Column(pn.widgets.Select(options=["a", "b"]), pn.widgets.FloatSlider()).get_root(doc)
        doc.add_root(later)
    urls = [m.url for m in doc.models if isinstance(m, ImportedStyleSheet)]
    assert urls and not [u for u in urls if u.startswith("http")], urls
