"""The Panel application: session state and the layout that links the views."""

from rnnpanel.app.new_session import create_app
from rnnpanel.app.session import RnnPanelApp

__all__ = ["RnnPanelApp", "create_app"]
