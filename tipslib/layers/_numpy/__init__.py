"""Small modules behind :mod:`tipslib.layers.numpy_impl` (one layer family each)."""
