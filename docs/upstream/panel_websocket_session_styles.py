"""A Panel session made from its websocket alone points its style sheets at the CDN.

`panel serve --num-procs N`, or several servers behind a proxy, often make a session in a process
that did not render its page. Such a session's ImportedStyleSheets name cdn.holoviz.org even though
the server serves the same files itself; an offline browser then cannot style the page (and
Chromium retries them, spinning a core).

Run: python panel_websocket_session_styles.py   (needs only panel; exits 1 when the CDN is named)
"""

import socket
import sys
import threading

import panel as pn
from bokeh.client import pull_session
from bokeh.models import ImportedStyleSheet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> list[str]:
    port = free_port()
    server = pn.serve({"app": lambda: pn.Column(pn.pane.Markdown("hello"), pn.widgets.Button(name="go"))},
                      port=port, address="127.0.0.1", show=False, threaded=True, start=True)
    urls: list[str] = []

    def pull() -> None:   # a session made from the websocket alone, as another process makes it
        with pull_session(url=f"http://127.0.0.1:{port}/app") as session:
            urls.extend(m.url for m in session.document.models if isinstance(m, ImportedStyleSheet))

    try:
        for _ in range(50):
            try:
                pull()
                break
            except OSError:
                threading.Event().wait(0.1)
    finally:
        server.stop()
    return urls


if __name__ == "__main__":
    remote = [url for url in main() if url.startswith("http")]
    print("\n".join(remote) or "every style sheet is served by this server")
    sys.exit(1 if remote else 0)
