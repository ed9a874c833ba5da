"""What `panel serve apps/` serves at /apps: the rnnpanel app over the default store.

The store is ``$RNNPANEL_STORE`` if set, else ``$RNNPANEL_HOME/store``; `rnnpanel serve` fills it
with the demo first. ``$RNNPANEL_RASTER_ABOVE`` sets how many states the map draws as glyphs.
"""

import panel as pn

from rnnpanel.app import create_app
from rnnpanel.app.server import EXTENSIONS, configured_params, configured_store, serve_page

pn.extension(*EXTENSIONS, notifications=True)

if pn.state.served:
    serve_page(create_app(configured_store(), **configured_params()))
