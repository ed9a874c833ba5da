"""The map as a standalone HTML page: every state a glyph with its word, sequence and step on hover."""

from __future__ import annotations

import dataclasses

from rnnpanel.views.export import map_figure, map_html
from tests.views.test_sequence_views import make_sample


def test_the_standalone_map_holds_every_state_with_hover_fields():
    sample = make_sample(3)
    fig = map_figure(sample)
    data = fig.renderers[0].data_source.data
    assert len(data["x"]) == sample.n_states
    assert list(data["word"]) == [str(w) for w in sample.words]
    hover = [t for t in fig.tools if type(t).__name__ == "HoverTool"][0]
    assert [name for name, _ in hover.tooltips][:3] == ["word", "sequence", "step"]


def test_the_page_is_self_contained_and_words_stay_data():
    sample = make_sample()
    words = sample.words.copy()
    words[0] = "<script>window.__xss = 1</script>"
    html = map_html(dataclasses.replace(sample, words=words))
    assert "<script src=" not in html            # Bokeh's scripts inline: opens offline
    assert "<script>window.__xss" not in html     # the word is JSON data, never markup


def test_a_large_map_keeps_a_seeded_sample_and_says_so():
    sample = make_sample(3)
    fig = map_figure(sample, max_points=5)
    assert len(fig.renderers[0].data_source.data["x"]) == 5
    assert f"a sample of 5 of {sample.n_states:,} states" in fig.title.text
    again = map_figure(sample, max_points=5).renderers[0].data_source.data["word"]
    assert list(again) == list(fig.renderers[0].data_source.data["word"])


def test_the_page_is_made_whatever_document_is_current():
    """A process serving sessions from threads may have another thread's document, already
    destroyed, as Bokeh's current one while a user downloads the map: the page is still made."""
    from bokeh.document import Document
    from bokeh.io.doc import patch_curdoc

    gone = Document()
    gone.callbacks.destroy()          # what destroying a served session's document does to it
    with patch_curdoc(gone):
        page = map_html(make_sample())
    assert page.lstrip().lower().startswith("<!doctype html>") and "Bokeh" in page
