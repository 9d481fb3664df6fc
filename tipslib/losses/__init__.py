"""Loss functions: binary cross-entropy (on probabilities and on logits), cross-entropy, MSE.

``tipslib.losses.numpy_impl`` holds the NumPy references, ``tipslib.losses.torch_impl``
their torch twins.
"""
