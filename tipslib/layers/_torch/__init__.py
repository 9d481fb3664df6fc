"""Small modules behind :mod:`tipslib.layers.torch_impl` (one layer family each)."""
