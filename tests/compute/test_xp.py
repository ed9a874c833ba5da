"""The array namespace on NumPy and CPU torch tensors (CuPy paths are covered in gpu/tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnpanel.compute import xp as xpmod


def test_numpy_arrays_use_numpy():
    a = np.zeros((3, 2))
    assert xpmod.array_namespace(a) is np
    assert xpmod.array_namespace(a, None, [1, 2]) is np
    assert not xpmod.is_gpu_array(a)
    assert xpmod.device_name(a) == "cpu"


def test_cpu_tensor_becomes_a_numpy_view_without_copy():
    t = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    arr = xpmod.asarray(t)
    assert isinstance(arr, np.ndarray)
    assert xpmod.array_namespace(t) is np
    t[0, 0] = 42.0
    assert arr[0, 0] == 42.0  # shares memory


def test_tensor_requiring_grad_is_detached():
    t = torch.ones(4, requires_grad=True)
    np.testing.assert_array_equal(xpmod.asarray(t), np.ones(4, dtype=np.float32))
    np.testing.assert_array_equal(xpmod.to_numpy(t * 2), np.full(4, 2.0, dtype=np.float32))


def test_asarray_casts_dtype_only_when_asked():
    a = np.arange(4, dtype=np.int32)
    assert xpmod.asarray(a) is a
    assert xpmod.asarray(a, dtype=np.float32).dtype == np.float32


def test_to_torch_shares_numpy_memory():
    a = np.zeros(3, dtype=np.float32)
    t = xpmod.to_torch(a)
    a[1] = 5.0
    assert float(t[1]) == 5.0
    assert xpmod.to_torch(t) is t


def test_detection_does_not_confuse_look_alikes():
    class Fake:
        device = "cuda"
        dtype = "float32"

    assert not xpmod.is_torch_tensor(Fake())
    assert not xpmod.is_cupy_array(Fake())


def test_cupy_or_none_without_a_gpu():
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert xpmod.cupy_or_none() is None
    else:  # pragma: no cover - only on GPU machines
        pytest.skip("CuPy is installed; the GPU tests cover it")
