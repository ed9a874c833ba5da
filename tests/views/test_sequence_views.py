"""Per-sequence view data: counts, alignment of steps across views, colours and labels."""

from __future__ import annotations

import numpy as np
import pytest

from rnnpanel.pipeline.sample import Sample
from rnnpanel.views import colors, overview
from rnnpanel.views.labels import labelled_steps
from rnnpanel.views.sequence import (
    distance_columns,
    heatmap_columns,
    label_columns,
    point_columns,
    segment_columns,
    state_columns,
    text_layout,
)


def make_sample(n_classes: int = 2, lengths=(5, 3, 7), seed: int = 0) -> Sample:
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = int(offsets[-1])
    logits = rng.standard_normal((n, n_classes))
    ep = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    dist = rng.random(n).astype(np.float32)
    dist[offsets[1:] - 1] = np.nan
    labels = rng.integers(0, n_classes, len(lengths))
    names = ("fresh", "rotten") if n_classes == 2 else tuple(f"topic{i}" for i in range(n_classes))
    return Sample(name="toy", class_names=names, offsets=offsets,
                  words=np.array([f"w{i}" for i in range(n)], dtype=object), ep=ep,
                  xy=rng.standard_normal((n, 2)).astype(np.float32), step_distance=dist, labels=labels,
                  predictions=ep[offsets[1:] - 1].argmax(1), sequence_ids=np.arange(len(lengths)) * 10,
                  n_cut=np.zeros(len(lengths), dtype=np.int64))


@pytest.mark.parametrize("n_classes", [2, 8])
def test_every_view_has_the_counts_the_paper_draws(n_classes):
    sample = make_sample(n_classes)
    s, t = 2, 7
    assert len(state_columns(sample, s)["word"]) == t
    assert len(segment_columns(sample, s, color_by="ep", thickness="distance")["x0"]) == t - 1
    assert len(heatmap_columns(sample, s)["t"]) == n_classes * t + t
    bars = distance_columns(sample, s)
    assert len(bars["t"]) == t - 1 and list(bars["t"]) == list(range(1, t))
    np.testing.assert_allclose(bars["d"], sample.step_distance[sample.sequence_slice(s)][:-1])


def test_thickness_modes_follow_time_and_distance():
    sample = make_sample()
    time_w = segment_columns(sample, 2, color_by="time", thickness="time")["width"]
    assert np.all(np.diff(time_w) > 0)
    dist = segment_columns(sample, 2, color_by="ep", thickness="distance")
    order = np.argsort(dist["d"])
    assert np.all(np.diff(np.asarray(dist["width"])[order]) >= 0)
    assert len(set(segment_columns(sample, 2, color_by="ep", thickness="constant")["width"])) == 1


def test_labels_mark_long_steps_ep_jumps_and_flips():
    ep = np.array([[0.9, 0.1], [0.85, 0.15], [0.4, 0.6], [0.45, 0.55]], dtype=np.float32)
    dist = np.array([0.1, 0.5, 0.05, np.nan], dtype=np.float32)
    assert list(labelled_steps(dist, ep, distance_threshold=0.4, ep_threshold=0.3, class_flips=False)) == [2]
    assert list(labelled_steps(dist, ep, distance_threshold=0.04, ep_threshold=0.9, class_flips=False)) == [1, 2, 3]
    flips = labelled_steps(np.zeros(4), ep, distance_threshold=1, ep_threshold=1, class_flips=True)
    assert list(flips) == [2]
    sample = make_sample()
    labels = label_columns(sample, 0, distance_threshold=0.0, ep_threshold=1.0, class_flips=False)
    assert len(labels["word"]) == 4                           # every step after the first is "long"


def test_text_layout_wraps_and_never_overlaps():
    words = ["word"] * 60
    x, y, w = text_layout(words)
    assert len(set(y)) > 1
    for line in set(y):
        on = np.flatnonzero(y == line)
        assert np.all(np.diff(x[on] - w[on] / 2) > 0) and (x[on] + w[on] / 2).max() <= 81


def test_binary_colours_follow_the_paper():
    assert colors.diverging_palette(3) == [colors.PINK, colors.GREY, colors.BLUE]
    names = ("fresh", "rotten")
    assert colors.class_colors(names) == [colors.BLUE, colors.PINK]    # "fresh" is the positive end
    ep = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], dtype=np.float32)
    assert colors.ep_colors(ep, names)[0] == colors.BLUE and colors.ep_colors(ep, names)[2] == colors.PINK


def test_point_columns_colour_by_truth_and_fade():
    sample = make_sample(8)
    ep_cols = point_columns(sample, color_by="ep", fade="none")
    np.testing.assert_array_equal(ep_cols["c"], sample.ep.argmax(1))
    true_cols = point_columns(sample, color_by="true_class", fade="correct")
    np.testing.assert_array_equal(true_cols["c"], sample.labels[sample.sequence_of_state])
    correct = (sample.labels == sample.predictions)[sample.sequence_of_state]
    assert np.all(true_cols["a"][correct] < true_cols["a"][~correct].min(initial=1.0) + 1e-9)


def test_overview_tables_count_correctly():
    sample = make_sample(8, lengths=(3,) * 40)
    m = overview.confusion(sample)
    assert m.sum() == 40 and np.trace(m) == int((sample.labels == sample.predictions).sum())
    frame = overview.dataset_frame(sample)
    assert frame.iloc[-1]["sequences"] == 40
    seq = overview.sequence_frame(sample)
    assert list(seq.columns) == ["id", "true", "predicted", "correct", "confidence", "length", "first words"]
    assert seq["length"].tolist() == [3] * 40


def test_labels_where_a_trajectory_folds_back_do_not_pile_up():
    from rnnpanel.views.labels import spread_labels

    # a map 400 units across: one unit a pixel; words of 4 letters are 34 px wide, 15 px high
    xy = np.array([[0, 0], [200, 200], [5, 5], [100, 0], [20, 3], [0, 40]], dtype=np.float32)
    words = np.array(["good", "film", "dull", "plot", "fine", "cast"], dtype=object)
    steps = np.arange(6)
    strength = np.array([0.1, 0.5, 0.9, 0.2, 0.3, 0.05])
    kept = spread_labels(xy, steps, strength, words, span=(400.0, 300.0))
    assert list(kept) == [1, 2, 3, 5]     # of the three at the origin only the strongest (t = 2)
    assert list(spread_labels(xy, steps[:1], strength, words, span=(400.0, 300.0))) == [0]
