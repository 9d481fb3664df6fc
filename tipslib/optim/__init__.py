"""Optimizers and learning-rate schedules.

``tipslib.optim.numpy_impl`` holds the NumPy references, ``tipslib.optim.torch_impl``
their torch twins. Hyperparameter names and defaults are torch's, so one
``dict`` of keyword arguments drives tipslib and ``torch.optim`` alike.
"""
