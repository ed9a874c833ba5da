"""Distributed extraction on GPUs: one dask-cuda worker per GPU writes the same entry a single process does."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from rnnpanel.pipeline.extract import extract_to_store

from .conftest import requires_cuda

pytestmark = [pytest.mark.gpu]

requires_dask_cuda = pytest.mark.skipif(importlib.util.find_spec("dask_cuda") is None,
                                        reason="needs dask-cuda (gpu/requirements-cuda*.txt)")


def _synthetic_source():
    """The CPU tests' synthetic source (tests/pipeline/conftest.py), loaded by path."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tests" / "pipeline" / "conftest.py"
    spec = importlib.util.spec_from_file_location("rnnpanel_tests_pipeline_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_source


@requires_cuda
@requires_dask_cuda
def test_local_cuda_cluster_writes_the_single_process_entry(tmp_path):
    csv, model_dir = _synthetic_source()(tmp_path, n_texts=400, hidden=64)
    options = {"split": "all", "device": "cuda", "progress": False, "text_column": "text", "label_column": "label",
               "chunk_states": 1024}
    alone, _ = extract_to_store(model_dir, str(csv), store_root=tmp_path / "one", **options)
    spread, _ = extract_to_store(model_dir, str(csv), store_root=tmp_path / "gpus", cluster="local-cuda", **options)
    assert spread.key == alone.key and spread.attrs["cluster"] == "local-cuda"
    for name in alone.array_names:
        a, b = alone.load(name), spread.load(name)
        if np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=name)
        else:
            assert np.array_equal(a, b), name
