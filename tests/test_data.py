"""Offline data: loaders, generators, splits, scaling and the torch bridge."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from tipslib.data import (Standardizer, load_digits, load_sample_image, make_moons, make_spirals, make_xor,
                          to_torch, train_val_test_split)


def test_digits():
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float64 and 0 <= x.min() and x.max() == 1.0
    assert y.dtype == np.int64 and set(y) == set(range(10))
    images, _ = load_digits(images=True)
    np.testing.assert_array_equal(images.reshape(-1, 64), x)


def test_sample_image_is_a_real_photo():
    img = load_sample_image()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 256
    assert img.std() > 20  # a photograph, not a blank


@pytest.mark.parametrize("make,k", [(make_spirals, 3), (make_moons, 2), (make_xor, 2)])
def test_toys_are_reproducible_and_balanced(make, k):
    x1, y1 = make(200, rng=np.random.default_rng(5))
    x2, y2 = make(200, rng=np.random.default_rng(5))
    x3, _ = make(200, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert x1.shape == (200, 2) and set(y1) == set(range(k))
    counts = np.bincount(y1)
    assert counts.min() >= 200 // k - 30


def test_xor_labels_follow_signs():
    x, y = make_xor(500, noise=0.0, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(int))


def test_split_is_reproducible_disjoint_and_stratified():
    x, y = load_digits()
    ids = np.arange(len(x))[:, None].astype(float)
    a = train_val_test_split(ids, y, rng=np.random.default_rng(1))
    b = train_val_test_split(ids, y, rng=np.random.default_rng(1))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
    parts = [set(p[0][:, 0]) for p in a]
    assert sum(len(p) for p in parts) == len(x) and len(set.union(*parts)) == len(x)
    (_, ytr), (_, yva), _ = a
    assert abs(len(yva) / len(x) - 0.15) < 0.01
    np.testing.assert_allclose(np.bincount(ytr) / len(ytr), np.bincount(y) / len(y), atol=0.01)


def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(500, 3))
    train[:, 2] = 7.0  # a constant feature is left unscaled, not divided by zero
    test = rng.normal(10.0, 2.0, size=(50, 3))
    s = Standardizer().fit(train)
    z = s.transform(train)
    np.testing.assert_allclose(z[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, :2].std(axis=0), 1, atol=1e-12)
    assert np.all(z[:, 2] == 0)
    assert s.transform(test)[:, 0].mean() > 2  # the test set is not re-centred on itself


def test_standardizer_leaves_a_constant_with_rounding_noise_near_zero():
    # 0.1 is not exact in binary: the column's std is ~1e-17, not 0, and must not be divided by.
    x = np.column_stack([np.full(7, 0.1), np.arange(7.0)])
    z = Standardizer().fit_transform(x)
    np.testing.assert_allclose(z[:, 0], 0, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_standardizer_refuses_non_finite_training_data(bad):
    x = np.ones((4, 2))
    x[1, 1] = bad
    with pytest.raises(ValueError, match="'x' parameter of Standardizer.fit"):
        Standardizer().fit(x)


def test_to_torch_dtypes_and_device():
    x, y = to_torch(np.ones((2, 3)), np.array([1, 0]), device="cpu")
    assert x.dtype == torch.get_default_dtype() and y.dtype == torch.int64 and x.device.type == "cpu"
    assert to_torch(np.ones(2), device="cpu", dtype=torch.float64).dtype == torch.float64


def test_importing_tipslib_loads_no_torch_and_no_network():
    code = "import sys, tipslib, tipslib.data; tipslib.data.load_digits(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
