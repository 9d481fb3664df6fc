"""NumPy augmentation modules, re-exported by ``tipslib.augment.numpy_impl``."""
