"""Served processes serialise only the property values Bokeh sends (rnnpanel/app/bokeh_serialization.py):
a session's document, first and after a selection, and the patch a selection sends, are the same
as Bokeh's own way makes them; an unset required property still refuses to serialise."""

from __future__ import annotations

import json
import re

import pytest
from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.models import ColumnDataSource, GlyphRenderer
from panel.io.state import set_curdoc

from rnnpanel.app import bokeh_serialization
from rnnpanel.app.session import RnnPanelApp


@pytest.fixture
def bokehs_own_way(monkeypatch):
    """Bokeh's own method in place to start with (a served test process may have installed ours)."""
    monkeypatch.setattr(HasProps, "query_properties_with_values", bokeh_serialization.BOKEH_QUERY)


def comparable(serialized) -> tuple[str, list[bytes]]:
    """What a browser receives, ids of models and buffers renumbered in order of appearance (each
    serialisation numbers new buffers anew, and new models get new ids)."""
    content, buffers = (serialized.content, serialized.buffers) if hasattr(serialized, "content") else (serialized, [])
    text = re.sub(r"at 0x[0-9a-f]+", "at 0x", json.dumps(content, sort_keys=True, default=repr))  # buffers' memory
    ids: dict[str, str] = {}
    text = re.sub(r"'(p\d+)'|\"(p\d+)\"", lambda m: ids.setdefault(m.group(0), f"#{len(ids)}"), text)
    return text, [bytes(b.data) for b in buffers or []]


def both_ways(doc: Document) -> tuple[tuple, tuple]:
    """``doc`` serialised reading only sent values, then Bokeh's own way (which reads and keeps
    defaults, so it goes second)."""
    HasProps.query_properties_with_values = bokeh_serialization.query_sent_values
    try:
        ours = comparable(doc.to_json())
    finally:
        HasProps.query_properties_with_values = bokeh_serialization.BOKEH_QUERY
    return ours, comparable(doc.to_json())


def test_a_sessions_document_is_serialised_the_same(small_store, bokehs_own_way):
    import panel as pn

    doc = Document()
    with set_curdoc(doc):
        app = RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"])
        doc.add_root(pn.panel(app).get_root(doc))
        ours, bokehs = both_ways(doc)
        assert ours == bokehs and ours[0].count("'type': 'object'") + ours[0].count('"type": "object"') > 100
        app.sequence = 2                          # the per-sequence views' sources replaced
        ours, bokehs = both_ways(doc)
        assert ours == bokehs


def test_a_new_model_in_a_patch_is_serialised_the_same(bokehs_own_way):
    encoded = []
    for query in (bokeh_serialization.query_sent_values, bokeh_serialization.BOKEH_QUERY):
        HasProps.query_properties_with_values = query
        source = ColumnDataSource({"x": [1, 2], "y": [3, 4]}, name="patched")
        encoded.append(comparable(Serializer().encode(source)))
    HasProps.query_properties_with_values = bokeh_serialization.BOKEH_QUERY
    assert encoded[0] == encoded[1]


def test_an_unset_required_property_still_refuses_to_serialise(bokehs_own_way):
    renderer = GlyphRenderer()                    # no data source: required
    HasProps.query_properties_with_values = bokeh_serialization.query_sent_values
    try:
        with pytest.raises(UnsetValueError):
            Serializer().encode(renderer)
    finally:
        HasProps.query_properties_with_values = bokeh_serialization.BOKEH_QUERY


def test_an_unchecked_bokeh_release_keeps_bokehs_own_way(monkeypatch, bokehs_own_way, caplog):
    monkeypatch.setattr(bokeh_serialization.bokeh, "__version__", "4.0.0")
    assert bokeh_serialization.install() is False
    assert HasProps.query_properties_with_values is bokeh_serialization.BOKEH_QUERY
    assert any("own query_properties_with_values" in r.getMessage() for r in caplog.records)
