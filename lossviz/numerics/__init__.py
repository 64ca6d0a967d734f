"""The math: losses and activations as plain torch functions, one module per family, each
function's closed-form gradient and spec beside it.

- ``regression``: L1, L2, Huber.  ``robust``: log-cosh, smooth L1, quantile, Barron's general.
- ``classification``: shared pieces for class-index / probability targets, cross-entropy.
- ``surrogates``: multiclass hinge (Crammer-Singer, Weston-Watkins), focal, generalized CE.
- ``activations``: ReLU and relatives, sigmoid, tanh, GELU, SiLU, softplus, Mish, softmax.
- ``stable``: stable softmax / log-softmax; ``autograd``: derivatives of registered entries
  that come without one.

Nothing here imports plotting, files or the registry; ``lossviz.registry`` collects the specs.
"""
