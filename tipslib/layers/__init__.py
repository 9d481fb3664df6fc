"""Layers: linear, activations, batch norm, dropout and a sequential container.

``tipslib.layers.numpy_impl`` holds the NumPy references, ``tipslib.layers.torch_impl``
their torch twins. Import the one you want; this package imports neither.
"""
