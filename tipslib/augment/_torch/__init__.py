"""Torch augmentation modules, re-exported by ``tipslib.augment.torch_impl``."""
