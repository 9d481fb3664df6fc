"""Small modules behind :mod:`tipslib.optim.numpy_impl`."""
