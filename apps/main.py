"""What `panel serve apps/` serves at /apps: the rnnpanel app over the default store.

The store is ``$RNNPANEL_STORE`` if set, else ``$RNNPANEL_HOME/store``; `rnnpanel serve` fills it
with the demo first.
"""

import panel as pn

from rnnpanel.app import create_app
from rnnpanel.app.server import configured_store

pn.extension("tabulator", notifications=True, design="bootstrap")

if pn.state.served:
    create_app(configured_store()).servable(title="rnnpanel")
