"""Server lifecycle hooks of the Bokeh directory app: warm the shared caches once per server."""

from rnnpanel.app.server import warm_caches


def on_server_loaded(server_context) -> None:
    warm_caches()
