"""A student's plugin (docs/plugins.md): an activation and two losses, each with its derivative
written by hand. One of the derivatives is wrong: `lossviz check` finds which, and where.

    lossviz check docs/examples/student_losses.py
    lossviz compare --plugin docs/examples/student_losses.py --losses l2,pseudo_huber
"""

import torch

import lossviz


# softsign(x) = x / (1 + |x|), a slower-saturating tanh (Turian et al. 2009)
def softsign(x):
    return x / (1 + x.abs())


# d/dx x / (1 + |x|) = ((1 + |x|) - x sign(x)) / (1 + |x|)^2 = 1 / (1 + |x|)^2
def softsign_grad(x):
    return 1 / (1 + x.abs()) ** 2


lossviz.register_activation("softsign", softsign, softsign_grad, formula=r"\frac{x}{1 + |x|}")


# Pseudo-Huber: delta^2 (sqrt(1 + (r / delta)^2) - 1), quadratic near 0 and linear far away,
# smooth everywhere (Charbonnier et al. 1994)
def pseudo_huber(pred, target, delta=1.0):
    r = pred - target
    return delta**2 * (torch.sqrt(1 + (r / delta) ** 2) - 1)


# d/dr = delta^2 * (r / delta^2) / sqrt(1 + (r / delta)^2) = r / sqrt(1 + (r / delta)^2)
def pseudo_huber_grad(pred, target, delta=1.0):
    r = pred - target
    return r / torch.sqrt(1 + (r / delta) ** 2)


lossviz.register_loss("pseudo_huber", pseudo_huber, pseudo_huber_grad, params={"delta": (1.0, 0.1, 5.0)},
                      formula=r"\delta^2 \left(\sqrt{1 + (r/\delta)^2} - 1\right)")


# |r|^3 / 3: a loss that punishes large errors even more than L2
def abs_cubic(pred, target):
    return (pred - target).abs() ** 3 / 3


# The mistake: d/dr |r|^3 / 3 = r |r| (negative for r < 0), not r^2.
def abs_cubic_grad(pred, target):
    r = pred - target
    return r**2


lossviz.register_loss("abs_cubic", abs_cubic, abs_cubic_grad, formula=r"\tfrac13 |r|^3")
