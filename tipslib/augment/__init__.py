"""Data augmentation: flips, rotation, random crop, colour shift, noise, information loss, contrast.

``tipslib.augment.numpy_impl`` holds the NumPy references (one HWC image at a
time), ``tipslib.augment.torch_impl`` their torch twins (whole NCHW batches,
different random parameters per image in one call). Import the one you want;
this package imports neither.
"""
