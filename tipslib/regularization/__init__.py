"""Regularization: L1/L2/elastic-net penalties, their proximal step, early stopping.

``tipslib.regularization.numpy_impl`` holds the NumPy references,
``tipslib.regularization.torch_impl`` their torch twins. Dropout, being a
layer, lives in :mod:`tipslib.layers`.
"""
