"""tipslib: the CS 230 "Deep Learning Tips and Tricks" cheatsheet as a runnable course.

Topics live in sub-packages, each with a NumPy reference (``numpy_impl``) and
a PyTorch twin (``torch_impl``)::

    from tipslib.layers import numpy_impl as L
    from tipslib.layers import torch_impl as TL

Importing ``tipslib`` itself loads neither torch nor the topics.
"""

from ._device import torch_device
from ._display import show_source
from .claims import ClaimFailed, claim, clearly_greater, mean_spread, seeds

__version__ = "0.1.0"
__all__ = ["torch_device", "show_source", "claim", "clearly_greater", "mean_spread", "seeds",
           "ClaimFailed", "__version__"]
