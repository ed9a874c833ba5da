"""Server lifecycle hooks of the Bokeh directory app: prepare the serving process once."""

from rnnpanel.app.server import prepare_server


def on_server_loaded(server_context) -> None:
    prepare_server()
