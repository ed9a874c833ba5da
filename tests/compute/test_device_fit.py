"""On a GPU, ``auto`` fits every state when they fit in the device's memory and places only above that."""

from __future__ import annotations

import numpy as np

from rnnpanel.compute.projection import ScaledProjection, make_backend
from rnnpanel.compute.projection.device_fit import (
    FIXED_BYTES,
    HEADROOM,
    bytes_per_state,
    device_fit_limit,
    largest_device_fit,
)
from tests.compute.test_projection_scale import _clusters

GIB = 2**30


def test_the_whole_corpus_fits_a_data_centre_gpu_and_a_sample_fits_a_small_one():
    corpus, dims = 2_645_686, 100
    assert device_fit_limit(corpus, dims, 79 * GIB) is None               # an H100: every state fitted
    assert device_fit_limit(corpus, dims, 139 * GIB) is None
    sample = device_fit_limit(corpus, dims, 15 * GIB)                    # a "16 GB" card: about 2 million
    assert sample is not None and 1_500_000 < sample < 2_500_000
    assert device_fit_limit(sample, dims, 15 * GIB) is None              # exactly the most that fit
    assert device_fit_limit(sample + 1, dims, 15 * GIB) == sample


def test_the_limit_grows_with_memory_and_shrinks_with_dimensions_and_perplexity():
    sizes = [largest_device_fit(100, gib * GIB) for gib in (2, 8, 16, 40, 80)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert largest_device_fit(1024, 16 * GIB) < largest_device_fit(100, 16 * GIB)
    assert largest_device_fit(100, 16 * GIB, perplexity=50) < largest_device_fit(100, 16 * GIB)
    assert largest_device_fit(100, FIXED_BYTES) == 0                     # too little: only a tiny sample
    assert device_fit_limit(1000, 100, FIXED_BYTES) == 2


def _device_bytes_for(n_states: int, dims: int) -> int:
    """A fake device whose memory holds exactly ``n_states`` states of ``dims`` dimensions."""
    return int(np.ceil((n_states * bytes_per_state(dims) + FIXED_BYTES) / HEADROOM)) + 1


def test_auto_on_a_device_fits_everything_that_fits_and_places_the_rest():
    """The CPU path with a fake device-memory figure: the same decision a GPU t-SNE takes."""
    x, y = _clusters(n_per=100, n_clusters=6, dims=20)
    params = {"random_state": 0, "max_iter": 150, "n_jobs": 1}
    roomy = ScaledProjection(make_backend("opentsne", **params), device_memory=_device_bytes_for(len(x), 20),
                             random_state=0, n_jobs=1).fit(x, y)
    assert roomy.placement_ == "none" and roomy.n_fitted_ == len(x)
    tight = ScaledProjection(make_backend("opentsne", **params), device_memory=_device_bytes_for(250, 20),
                             random_state=0, n_jobs=1).fit(x, y)
    assert tight.placement_ == "neighbors" and tight.n_fitted_ == 250 and not tight.fitted_.all()
    # without a device figure the CPU backend keeps its own limit (250,000: these states are fitted whole)
    cpu = ScaledProjection(make_backend("opentsne", **params), random_state=0, n_jobs=1)
    assert cpu.fit_limit(len(x), 20) == 250_000
    # other methods keep their backend's limit whatever the device holds
    umap = ScaledProjection(make_backend("umap"), device_memory=_device_bytes_for(10, 20))
    assert umap.fit_limit(len(x), 20) == make_backend("umap").max_fit_size
