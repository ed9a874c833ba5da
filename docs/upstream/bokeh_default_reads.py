"""Bokeh reads property defaults it has no use for: serialising a model, and walking its references.

1. ``HasProps.query_properties_with_values(include_defaults=False)`` (what serialisation calls)
   reads every property with ``descriptor.get_value`` before it checks whether the property is
   set; its own TODO says the check should come first.
2. ``bokeh.model.util.visit_immediate_value_references`` (the walk behind ``Document.models``)
   reads every property that could hold a model, although one left at a fixed default (None, a
   number, a name: not made by a function) holds none.

This counts, for a plain figure, the reads against the values sent, and the walk's reads of
properties left at a fixed default.

Run: python bokeh_default_reads.py   (needs only bokeh; prints the counts)
"""

from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.document import Document
from bokeh.plotting import figure

reads = 0
_get_value = PropertyDescriptor.get_value


def counting_get_value(self, obj):
    global reads
    reads += 1
    return _get_value(self, obj)


def fixed_defaults_walked(models) -> int:
    """Properties the walk reads that are unset, with a default that is the same every time."""
    return sum(1 for model in models for attr in model.properties_with_refs()
               if attr not in model._property_values and attr not in model._unstable_default_values
               and not model.lookup(attr).has_unstable_default(model))


def main() -> tuple[int, int, int]:
    global reads
    plot = figure(width=400, height=300, title="reads")
    plot.scatter([1, 2, 3], [3, 1, 2])
    doc = Document()
    doc.add_root(plot)
    models = list(doc.models)
    walked = fixed_defaults_walked(models)
    PropertyDescriptor.get_value = counting_get_value
    try:
        reads = 0
        sent = sum(len(model.properties_with_values(include_defaults=False)) for model in models)
    finally:
        PropertyDescriptor.get_value = _get_value
    return reads, sent, walked


if __name__ == "__main__":
    read, sent, walked = main()
    print(f"serialising: read {read} property values to send {sent}")
    print(f"walking references: read {walked} properties left at a fixed default (they hold no model)")
