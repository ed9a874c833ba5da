"""What `panel serve apps/` serves at /apps: the rnnpanel app over the default store.

The store is ``$RNNPANEL_STORE`` if set, else ``$RNNPANEL_HOME/store``; `rnnpanel serve` fills it
with the demo first. ``$RNNPANEL_RASTER_ABOVE`` sets how many states the map draws as glyphs.
"""

import panel as pn

from rnnpanel.app import create_app
from rnnpanel.app.server import EXTENSIONS, configured_params, configured_store

pn.extension(*EXTENSIONS, notifications=True)

# What `pn.state.served` tells, without its `inspect.stack()` (which reads every frame's source
# lines: 3% of each session's build while a room opens the app at once): Bokeh runs this script
# as a module named bokeh_app_<id>.
if __name__.startswith("bokeh_app_"):
    create_app(configured_store(), **configured_params()).servable(title="rnnpanel")
