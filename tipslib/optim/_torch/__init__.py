"""Small modules behind :mod:`tipslib.optim.torch_impl`."""
