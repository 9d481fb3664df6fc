"""Training: mini-batches, epochs, the fit loop, and (chapter 5) overfitting a small batch.

``tipslib.training.numpy_impl`` trains NumPy models, ``tipslib.training.torch_impl``
any ``torch.nn.Module``.
"""
