"""Bokeh reading only the property values it uses, in served processes.

Once apps are built ahead, most of a new session's server time is Bokeh reading default values
it then has no use for (benchmarks/RESULTS.md, "Many users opening the app at once"; reported
upstream in docs/upstream/bokeh-default-reads.md):

* **Serialising** a model, Bokeh reads every property, defaults included, and then drops the
  defaults it does not send (``HasProps.query_properties_with_values``; its own comment says the
  check should come first). A session's first document read about 15,000 defaults to send about
  1,000 values: 70-80 % of serialising it, 0.04 s of each session. :func:`query_sent_values`
  checks first. A required property left unset still raises, as Bokeh's own check does.
* **Walking the models** a model refers to (``bokeh.model.util.visit_immediate_value_references``:
  Bokeh and Panel walk a session's whole graph four times as it is made), Bokeh reads every
  property that could hold a model, and works out a default each time for those never set,
  although a default that is the same every time (not made by a function: None, a number, a
  name) holds no model. :func:`visit_model_references` skips those: a walk 13.5 → 5.5 ms.

What is sent and which models are found are the same (tests compare session documents both ways).
Bokeh reading a default also keeps a copy of a mutable one for later reads; skipping the read
leaves it to be made when something reads it, which serialises the same.
"""

from __future__ import annotations

from typing import Any

import bokeh.model.util as bokeh_model_util
from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.core.property.singletons import Undefined
from bokeh.core.property.wrappers import PropertyValueContainer

#: Bokeh's own functions, kept to compare against and to fall back on.
BOKEH_QUERY = HasProps.query_properties_with_values
BOKEH_VISIT = bokeh_model_util.visit_immediate_value_references


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


_same_every_time: dict[tuple[type, str], bool] = {}     # (model class, property) → its default is


def visit_model_references(value: Any, visitor) -> None:
    """Bokeh's ``visit_immediate_value_references``, not reading properties left at a default that
    is the same every time (it holds no model)."""
    if not isinstance(value, HasProps):
        bokeh_model_util.visit_value_and_its_immediate_references(value, visitor)
        return
    values, made = value._property_values, value._unstable_default_values
    themed = value.themed_values() or ()
    for attr in value.properties_with_refs():
        if attr not in values and attr not in made and attr not in themed:
            key = (type(value), attr)
            fixed = _same_every_time.get(key)
            if fixed is None:
                fixed = _same_every_time[key] = not value.lookup(attr).has_unstable_default(value)
            if fixed:
                continue
        bokeh_model_util.visit_value_and_its_immediate_references(getattr(value, attr), visitor)


def install() -> None:
    """Serialise sent values only and walk past fixed defaults, in this process (on the Bokeh
    releases :mod:`rnnpanel.app.upstream` lists for it)."""
    HasProps.query_properties_with_values = query_sent_values
    bokeh_model_util.visit_immediate_value_references = visit_model_references
