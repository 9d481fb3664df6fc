"""Splitting, scaling and moving data to torch."""

from __future__ import annotations

import numpy as np

from .._checks import check_real, check_rng

__all__ = ["train_val_test_split", "Standardizer", "to_torch"]


def train_val_test_split(x, y, *, val_size=0.15, test_size=0.15, stratify=True, rng=None):
    """Split ``(x, y)`` into train, validation and test parts, reproducibly.

    The same ``rng`` state gives the same split. With ``stratify`` each part
    keeps the class proportions of ``y`` (scikit-learn's ``train_test_split``
    does the work).

    Returns
    -------
    (x_train, y_train), (x_val, y_val), (x_test, y_test)
    """
    from sklearn.model_selection import train_test_split

    owner = "train_val_test_split"
    val_size = check_real(val_size, "val_size", owner, low=0, high=1, low_open=True, high_open=True)
    test_size = check_real(test_size, "test_size", owner, low=0, high=1, low_open=True, high_open=True)
    if val_size + test_size >= 1:
        raise ValueError(
            f"The 'val_size' and 'test_size' parameters of {owner} must leave room for training "
            f"(sum below 1). Got {val_size} + {test_size} instead."
        )
    if len(x) != len(y):
        raise ValueError(f"The 'y' parameter of {owner} must have one label per row of 'x' ({len(x)}). Got {len(y)} instead.")
    rng = check_rng(rng, owner)
    seeds = rng.integers(0, 2**31 - 1, size=2)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_size, random_state=int(seeds[0]), stratify=y if stratify else None)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_size / (1 - test_size), random_state=int(seeds[1]),
        stratify=y_rest if stratify else None)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


class Standardizer:
    """Scale features to zero mean and unit variance, with statistics of the training set only.

    Fitting on all the data would let the validation and test sets leak into
    training. Features that are constant in training (the blank border pixels
    of the digits) are left unscaled instead of divided by zero.

    >>> scaler = Standardizer().fit(x_train)
    >>> x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)

    See Also
    --------
    sklearn.preprocessing.StandardScaler : the same transform.
    """

    def fit(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"The 'x' parameter of Standardizer.fit must be a non-empty 2-D array. Got shape {x.shape} instead.")
        if not np.isfinite(x).all():
            # One NaN would turn its column's mean and scale into NaN for every later transform.
            raise ValueError("The 'x' parameter of Standardizer.fit must hold finite numbers. Got NaN or inf entries instead.")
        self.mean_ = x.mean(axis=0)
        # Test constancy exactly: the std of a constant column such as 0.1 is rounding
        # noise (~1e-17), and dividing by it would blow that noise up to +-1.
        constant = x.max(axis=0) == x.min(axis=0)
        self.scale_ = np.where(constant, 1.0, x.std(axis=0))
        return self

    def transform(self, x):
        if not hasattr(self, "mean_"):
            raise RuntimeError("Standardizer.transform was called before fit.")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"The 'x' parameter of Standardizer.transform must have {self.mean_.shape[0]} columns. "
                f"Got shape {x.shape} instead."
            )
        return (x - self.mean_) / self.scale_

    def fit_transform(self, x):
        return self.fit(x).transform(x)


def to_torch(*arrays, device=None, dtype=None):
    """NumPy arrays to torch tensors on ``device`` (default: :func:`tipslib.torch_device`).

    Floating arrays become ``dtype`` (default: torch's default float type);
    integer arrays (labels) become ``int64``. Returns one tensor per array.
    """
    import torch

    from .._device import torch_device

    device = torch_device() if device is None else torch.device(device)
    out = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            t = torch.as_tensor(a, dtype=dtype or torch.get_default_dtype())
        elif a.dtype.kind in "iu":
            t = torch.as_tensor(a, dtype=torch.int64)
        else:
            raise TypeError(f"The 'arrays' parameter of to_torch must hold numeric arrays. Got dtype {a.dtype} instead.")
        out.append(t.to(device))
    return out[0] if len(out) == 1 else tuple(out)
