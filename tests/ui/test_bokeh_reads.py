"""Served processes have Bokeh read only the property values it uses (rnnpanel/app/upstream/bokeh_reads.py):
a session's document, first, with its tabs and after a selection, serialises the same and is
found to hold the same models as Bokeh's own ways make it; an unset required property still
refuses to serialise."""

from __future__ import annotations

import json
import re

import bokeh.model.util as bokeh_model_util
import pytest
from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.model import collect_models
from bokeh.models import ColumnDataSource, GlyphRenderer
from panel.io.state import set_curdoc

from rnnpanel.app.session import RnnPanelApp
from rnnpanel.app.upstream import bokeh_reads


@pytest.fixture
def bokehs_own_way(monkeypatch):
    """Bokeh's own functions in place to start with (a served test process may have installed ours)."""
    monkeypatch.setattr(HasProps, "query_properties_with_values", bokeh_reads.BOKEH_QUERY)
    monkeypatch.setattr(bokeh_model_util, "visit_immediate_value_references", bokeh_reads.BOKEH_VISIT)


def comparable(serialized) -> tuple[str, list[bytes]]:
    """What a browser receives, ids of models and buffers renumbered in order of appearance (each
    serialisation numbers new buffers anew, and new models get new ids)."""
    content, buffers = (serialized.content, serialized.buffers) if hasattr(serialized, "content") else (serialized, [])
    text = re.sub(r"at 0x[0-9a-f]+", "at 0x", json.dumps(content, sort_keys=True, default=repr))  # buffers' memory
    ids: dict[str, str] = {}
    text = re.sub(r"'(p\d+)'|\"(p\d+)\"", lambda m: ids.setdefault(m.group(0), f"#{len(ids)}"), text)
    text = re.sub(r"([A-Z][A-Za-z]+)\d{5}\b", r"\1#", text)       # Panel numbers its objects' names
    text = re.sub(r"\b\d{12,}\b", "#", text)                         # and tags links with Python ids
    text = re.sub(r"\b[0-9a-f]{32}\b", "#", text)                    # Tabulator's column ids are uuids
    return text, [bytes(b.data) for b in buffers or []]


def session_stages(small_store, monkeypatch, ours: bool):
    """A session's document made with our reads installed from the start (``ours``) or Bokeh's:
    yields (stage, what a browser receives, the types of the models found) at its first page,
    with its tabs and settings, and with a sequence selected."""
    import panel as pn

    after_first_page = []
    monkeypatch.setattr(
        type(pn.state), "onload", lambda self, callback, threaded=False: after_first_page.append(callback)
    )
    monkeypatch.setattr(type(pn.state), "loaded", property(lambda self: False))
    monkeypatch.setattr(HasProps, "query_properties_with_values",
                        bokeh_reads.query_sent_values if ours else bokeh_reads.BOKEH_QUERY)
    monkeypatch.setattr(bokeh_model_util, "visit_immediate_value_references",
                        bokeh_reads.visit_model_references if ours else bokeh_reads.BOKEH_VISIT)
    doc = Document()
    with set_curdoc(doc):
        app = RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"])
        doc.add_root(pn.panel(app).get_root(doc))
        for stage in ("first page", "tabs and settings", "a sequence selected"):
            if stage == "tabs and settings":
                for callback in after_first_page:
                    callback()
            elif stage == "a sequence selected":
                app.sequence = 2                  # the per-sequence views' sources replaced
            yield stage, comparable(doc.to_json()), [type(m).__name__ for m in collect_models(*doc.roots)]


def test_a_sessions_document_is_serialised_the_same_and_holds_the_same_models(small_store, bokehs_own_way,
                                                                             monkeypatch):
    RnnPanelApp(store_root=small_store["store"], entry=small_store["entry"])   # both then open a cached sample
    theirs = list(session_stages(small_store, monkeypatch, ours=False))
    ours = list(session_stages(small_store, monkeypatch, ours=True))
    for (stage, sent, found), (_, bokehs_sent, bokehs_found) in zip(ours, theirs):
        assert found == bokehs_found and len(found) > 100, stage
        if sent != bokehs_sent:      # where they part, to read in the failure
            at = next(i for i, (x, y) in enumerate(zip(sent[0], bokehs_sent[0])) if x != y)
            assert sent[0][at - 300:at + 200] == bokehs_sent[0][at - 300:at + 200], stage
        assert sent == bokehs_sent, stage


def test_a_new_model_in_a_patch_is_serialised_the_same(bokehs_own_way):
    encoded = []
    for query in (bokeh_reads.query_sent_values, bokeh_reads.BOKEH_QUERY):
        HasProps.query_properties_with_values = query
        source = ColumnDataSource({"x": [1, 2], "y": [3, 4]}, name="patched")
        encoded.append(comparable(Serializer().encode(source)))
    HasProps.query_properties_with_values = bokeh_reads.BOKEH_QUERY
    assert encoded[0] == encoded[1]


def test_an_unset_required_property_still_refuses_to_serialise(bokehs_own_way):
    renderer = GlyphRenderer()                    # no data source: required
    HasProps.query_properties_with_values = bokeh_reads.query_sent_values
    try:
        with pytest.raises(UnsetValueError):
            Serializer().encode(renderer)
    finally:
        HasProps.query_properties_with_values = bokeh_reads.BOKEH_QUERY


def test_defaults_made_on_first_read_are_still_found(bokehs_own_way):
    """A model's default made by a function (a source's selection and policy) is made and found by
    the walk, as Bokeh's own walk does; only fixed defaults are passed."""
    found = []
    for visit in (bokeh_reads.visit_model_references, bokeh_reads.BOKEH_VISIT):
        bokeh_model_util.visit_immediate_value_references = visit
        found.append(sorted(type(m).__name__ for m in collect_models(ColumnDataSource({"x": [1]}))))
    bokeh_model_util.visit_immediate_value_references = bokeh_reads.BOKEH_VISIT
    assert found[0] == found[1] == ["ColumnDataSource", "Selection", "UnionRenderers"]
