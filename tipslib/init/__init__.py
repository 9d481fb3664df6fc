"""Weight initialisation: zeros, normal, uniform, Xavier/Glorot and Kaiming/He.

``tipslib.init.numpy_impl`` returns new arrays drawn from an ``rng``;
``tipslib.init.torch_impl`` fills tensors in place like ``torch.nn.init``.
"""
