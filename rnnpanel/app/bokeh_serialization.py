"""Bokeh serialising only the property values it sends, in served processes.

To serialise a model Bokeh reads every one of its properties, defaults included, and then drops
the defaults it does not send (``HasProps.query_properties_with_values``; its own comment says the
check should come first). A session's first document here reads about 15,000 defaults to send
about 1,000 values: 70-80 % of serialising it, 0.045 s of each session's server time, and the
largest part of a burst of sessions left once apps are built ahead (benchmarks/RESULTS.md, "Many
users at once"). :func:`install` makes the serving process check first and read only what it
sends. What is sent is the same, value for value (a test serialises session documents both
ways); a required property left unset still raises, as Bokeh's own check does. Bokeh reading a
default also keeps a copy of a mutable one for later reads; skipping the read leaves it to be made
when something reads it, which serialises the same.
"""

from __future__ import annotations

import logging
from typing import Any

import bokeh
from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.core.property.singletons import Undefined
from bokeh.core.property.wrappers import PropertyValueContainer

log = logging.getLogger(__name__)

#: Bokeh's own method, kept to compare against and to fall back on.
BOKEH_QUERY = HasProps.query_properties_with_values
#: The Bokeh releases whose ``query_properties_with_values`` this mirrors.
CHECKED_RELEASES = ("3.9.",)


def query_sent_values(self: HasProps, query, *, include_defaults: bool = True,
                      include_undefined: bool = False) -> dict[str, Any]:
    """Bokeh's ``query_properties_with_values``, reading a property only if its value is sent."""
    if include_defaults:
        return BOKEH_QUERY(self, query, include_defaults=True, include_undefined=include_undefined)
    themed_values = self.themed_values()
    themed_keys = set(themed_values) if themed_values is not None else set()
    # as Bokeh selects them: set values, mutable defaults already made (Instances always get
    # serialised), and themed ones
    selected = set(self._property_values) | set(self._unstable_default_values) | themed_keys
    result: dict[str, Any] = {}
    for key in self.properties(_with_props=True):
        descriptor = self.lookup(key)
        if not query(descriptor):
            continue
        if key not in selected and descriptor.property._default is not Undefined:
            continue                    # a default, not sent: Bokeh would read it and drop it
        try:
            value = descriptor.get_value(self)
        except UnsetValueError:
            if not include_undefined:
                raise
            value = Undefined
        else:
            if key not in selected:
                continue
            if key not in themed_keys and isinstance(value, PropertyValueContainer) \
                    and key in self._unstable_default_values:
                continue
        result[key] = value
    return result


def install() -> bool:
    """Serialise sent values only, in this process; False (and Bokeh's own way kept, with a
    warning) on a Bokeh release this was not checked against."""
    if not bokeh.__version__.startswith(CHECKED_RELEASES):
        log.warning("Bokeh %s: serialising with Bokeh's own query_properties_with_values (this process "
                    "reads only sent values on Bokeh %s)", bokeh.__version__, ", ".join(CHECKED_RELEASES))
        return False
    HasProps.query_properties_with_values = query_sent_values
    return True
