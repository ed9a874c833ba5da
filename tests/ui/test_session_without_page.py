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


def test_every_model_of_such_a_session_first_or_later_has_its_style_sheets_from_here():
    """Panel makes a model's style sheets from what the session's document says of the server,
    which only a page's HTML used to set: set before the page is made, it holds for the first page
    and for what arrives after it (the tabs and settings)."""
    from types import SimpleNamespace

    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from rnnpanel.app.upstream.session_styles import serve_styles_locally

    class Served:              # a served session's context, as far as these functions read it
        id, request = "s", SimpleNamespace(arguments={}, headers={}, cookies={})

    doc = Document()
    doc._session_context = lambda: Served()
    with set_curdoc(doc):
        serve_styles_locally(doc)
        doc.add_root(pn.Column(pn.pane.HTML("first page"), pn.widgets.Button(name="go")).get_root(doc))
        doc.add_root(pn.Column(pn.widgets.Select(options=["a", "b"]), pn.widgets.FloatSlider()).get_root(doc))
    urls = [m.url for m in doc.models if isinstance(m, ImportedStyleSheet)]
    assert urls and not [u for u in urls if u.startswith("http")], urls
