"""Transfer learning: a network pretrained on upright digits, reused for their negatives.

``tipslib.transfer.numpy_impl`` holds the NumPy reference (freezing with
``Frozen`` wrappers), ``tipslib.transfer.torch_impl`` its torch twin (freezing
with ``requires_grad``); ``python -m tipslib.transfer.pretrain`` remakes the
shipped weights ``pretrained_digits.npz``.
"""
