"""Step distances: values, NaN at sequence ends, normalisation, chunking, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnpanel.compute.distances import normalize_by_max, step_distances


def reference(states: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    out = np.full(len(states), np.nan)
    for s in range(len(offsets) - 1):
        for i in range(offsets[s], offsets[s + 1] - 1):
            out[i] = np.linalg.norm(states[i + 1].astype(np.float64) - states[i])
    return out


def test_hand_computed_example():
    states = np.array([[0, 0], [3, 4], [3, 4], [1, 1], [1, 2]], dtype=np.float32)
    offsets = np.array([0, 3, 5])
    raw = step_distances(states, offsets, normalize=False)
    np.testing.assert_allclose(raw, [5.0, 0.0, np.nan, 1.0, np.nan])
    norm = step_distances(states, offsets)
    np.testing.assert_allclose(norm, [1.0, 0.0, np.nan, 0.2, np.nan])
    assert norm.dtype == np.float32


def test_matches_a_loop_on_random_data_with_tiny_chunks():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 9, size=40)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    states = rng.normal(size=(offsets[-1], 7)).astype(np.float32)
    expected = reference(states, offsets)
    got = step_distances(states, offsets, normalize=False, chunk_rows=3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)
    norm = step_distances(states, offsets, chunk_rows=5)
    np.testing.assert_allclose(norm, expected / np.nanmax(expected), rtol=1e-5, equal_nan=True)
    assert np.nanmax(norm) == pytest.approx(1.0)


def test_empty_and_single_state_sequences():
    states = np.arange(8, dtype=np.float32).reshape(4, 2)
    offsets = np.array([0, 1, 1, 3, 4])  # lengths 1, 0, 2, 1
    raw = step_distances(states, offsets, normalize=False)
    np.testing.assert_allclose(raw, [np.nan, np.sqrt(8), np.nan, np.nan])


def test_all_single_states_and_constant_states():
    assert np.isnan(step_distances(np.ones((3, 2)), np.array([0, 1, 2, 3]))).all()
    np.testing.assert_array_equal(step_distances(np.ones((3, 2)), np.array([0, 3])), [0.0, 0.0, np.nan])


def test_torch_input_and_no_mutation():
    rng = np.random.default_rng(1)
    states = rng.normal(size=(10, 3)).astype(np.float32)
    before = states.copy()
    offsets = np.array([0, 4, 10])
    a = step_distances(states, offsets)
    b = step_distances(torch.from_numpy(states), torch.tensor(offsets))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(states, before)


@pytest.mark.parametrize(
    "offsets",
    [np.array([1, 4]), np.array([0, 3]), np.array([0, 3, 2, 4]), np.array([[0, 4]]), np.array([0.0, 4.0])],
)
def test_bad_offsets_are_refused(offsets):
    with pytest.raises(ValueError, match="offsets"):
        step_distances(np.zeros((4, 2)), offsets)


def test_normalize_by_max_returns_the_scale():
    d, scale = normalize_by_max(np.array([np.nan, 2.0, 4.0]))
    assert scale == 4.0
    np.testing.assert_allclose(d, [np.nan, 0.5, 1.0])
