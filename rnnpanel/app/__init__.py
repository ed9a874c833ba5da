"""The Panel application: session state and the layout that links the views."""

from rnnpanel.app.session import RnnPanelApp, create_app

__all__ = ["RnnPanelApp", "create_app"]
