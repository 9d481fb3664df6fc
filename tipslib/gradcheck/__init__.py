"""Gradient checking: numerical gradients by centered differences, compared with analytic ones.

``tipslib.gradcheck.numpy_impl`` and ``tipslib.gradcheck.torch_impl`` are the twins.
"""
