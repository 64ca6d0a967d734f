"""Polynomial fitting as in d2l 4.4 and 4.5: model capacity, under- and overfitting, weight decay.

Data as d2l 4.4: y = 5 + 1.2 x - 3.4 x^2/2! + 5.6 x^3/3! + eps, eps ~ N(0, 0.1^2), x ~ N(0, 1);
a model of degree d is linear in the features x^i / i! (i = 0..d; the i! keeps x^20 from
swamping the gradient), trained by minibatch SGD on the squared error, with the registry's
closed-form L2 gradient (no autograd, as the rest of the toy). Re-exported by ``lossviz.toy``.
Nothing here draws or writes files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lossviz import checks
from lossviz.registry import get_loss

TRUE_WEIGHTS = (5.0, 1.2, -3.4, 5.6)  # d2l 4.4's true_w[0:4], weights of x^i / i!
MAX_DEGREE = 20  # d2l 4.4's max_degree
NOISE = 0.1  # standard deviation of eps
MAX_POINTS = 10_000
MAX_EPOCHS = 10_000
MAX_SEED = 2**31


@dataclass(frozen=True, eq=False)
class PolynomialFit:
    """One trained polynomial: its weights, the loss per epoch, and the points it saw.

    Losses are the mean squared error (y_hat - y)^2 over a whole set after each epoch, without the
    weight-decay penalty (d2l 4.4's ``evaluate_loss`` with ``nn.MSELoss``)."""

    degree: int
    weights: np.ndarray  # (degree + 1,): the weight of x^i / i!, constant term first
    train_loss: list[float]  # one per epoch, after it
    test_loss: list[float]
    x_train: np.ndarray  # (n_train,)
    y_train: np.ndarray
    x_test: np.ndarray  # (n_test,)
    y_test: np.ndarray
    weight_decay: float
    epochs: int

    @property
    def true_weights(self) -> np.ndarray:
        """The true polynomial's weights padded with zeros to max(4, degree + 1) (shape)."""
        out = np.zeros(max(len(TRUE_WEIGHTS), self.degree + 1))
        out[:len(TRUE_WEIGHTS)] = TRUE_WEIGHTS
        return out

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    def predict(self, x) -> np.ndarray:
        """The fitted polynomial at ``x`` (any shape)."""
        x = np.asarray(x, dtype=np.float64)
        return (features(torch.from_numpy(x.reshape(-1)), self.degree).numpy() @ self.weights).reshape(x.shape)

    def curve(self, points: int = 201, span: tuple[float, float] | None = None) -> dict[str, np.ndarray]:
        """Arrays for a view: ``x`` over ``span`` (default: all the points' range), the ``fit``
        and the ``true`` polynomial there (no noise)."""
        if span is None:
            both = np.concatenate([self.x_train, self.x_test])
            span = (float(both.min()), float(both.max()))
        x = np.linspace(span[0], span[1], points)
        return {"x": x, "fit": self.predict(x), "true": true_polynomial(x)}


@dataclass(frozen=True, eq=False)
class CapacityCurve:
    """Final train and test loss against the polynomial degree (the U-curve of d2l 4.4)."""

    degrees: tuple[int, ...]
    train_loss: np.ndarray  # (len(degrees),): the mean squared error after the last epoch
    test_loss: np.ndarray
    weight_decay: float
    n_train: int
    epochs: int


def true_polynomial(x) -> np.ndarray:
    """5 + 1.2 x - 3.4 x^2/2! + 5.6 x^3/3!, without noise."""
    x = np.asarray(x, dtype=np.float64)
    return sum(w * x ** i / math.factorial(i) for i, w in enumerate(TRUE_WEIGHTS))


def features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """(n,) -> (n, degree + 1): x^i / i! for i = 0..degree (d2l 4.4 divides by gamma(i + 1) = i!)."""
    powers = torch.arange(degree + 1, dtype=x.dtype)
    factorials = torch.tensor([math.factorial(i) for i in range(degree + 1)], dtype=x.dtype)
    return x[:, None] ** powers / factorials


def _streams(seed: int) -> list[np.random.Generator]:
    # Independent streams for the training points, the test points, the initial weights and the
    # minibatch order: the test set does not change with n_train, nor the batches with the degree.
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]


def polynomial_data(n_train: int = 100, n_test: int = 100, *, seed: int = 0):
    """d2l 4.4's points: (x_train, y_train, x_test, y_test), numpy float64, from ``seed`` alone."""
    out = []
    for rng, n in zip(_streams(seed)[:2], (n_train, n_test)):
        x = rng.normal(size=n)
        out += [x, true_polynomial(x) + rng.normal(scale=NOISE, size=n)]
    return tuple(out)


def polynomial_fit(degree: int, *, n_train: int = 100, n_test: int = 100, weight_decay: float = 0.0,
                   epochs: int = 400, lr: float = 0.01, batch_size: int = 10, seed: int = 0) -> PolynomialFit:
    """Fit a polynomial of ``degree`` to d2l 4.4's data by minibatch SGD, with weight decay.

    Loss per batch: mean (y_hat - y)^2 + lambda/2 ||w_1..d||^2, y_hat = sum_i w_i x^i / i!.
    The squared error is d2l 4.4's PyTorch ``nn.MSELoss``, twice the registry's ``l2`` (1/2
    (y_hat - y)^2), so its gradient is 2 * l2's; with it d2l's lr 0.01 and 400 epochs recover
    the published cubic (half of it leaves w_3 ~ 5.0 instead of 5.6 after 400 epochs). Weight
    decay (d2l 4.5, lambda = ``weight_decay``) is on w_1..w_d: the constant term is the bias,
    which d2l 4.5 leaves undecayed. Weights start as d2l 4.4's ``nn.Linear(d + 1, 1, bias=False)``: uniform in
    +-1/sqrt(d + 1). Each epoch visits the training points in a fresh random order in batches of
    min(batch_size, n_train) (the last one smaller when they do not divide).

    Args:
        degree: 1..20. Default: none.
        n_train, n_test: points in each set, 1..10,000. Default: 100 each (d2l's).
        weight_decay: lambda >= 0. Default: 0.0.
        epochs: 1..10,000. Default: 400 (d2l's).
        lr: SGD step, in (0, 10]. Default: 0.01 (d2l's).
        batch_size: 1..10,000. Default: 10 (d2l's).
        seed: 0..2^31; the data, the start and the batches depend on it alone. Default: 0.

    Returns:
        A ``PolynomialFit``: ``weights`` (degree + 1,), ``train_loss`` / ``test_loss`` (epochs,).
    """
    degree = checks.integer(degree, "degree", 1, MAX_DEGREE)
    data, (w, train_loss, test_loss), s = _fit((degree,), n_train=n_train, n_test=n_test, weight_decay=weight_decay,
                                               epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return PolynomialFit(degree, w[:, 0].numpy().copy(), train_loss[:, 0].tolist(), test_loss[:, 0].tolist(), *data,
                         s["weight_decay"], s["epochs"])


def _fit(degrees, *, n_train, n_test, weight_decay, epochs, lr, batch_size, seed):
    """Check the settings, draw the points, train every degree: (points, ``_train``'s result, settings)."""
    s = {"weight_decay": checks.number(weight_decay, "weight_decay", 0.0, 1e3),
         "epochs": checks.integer(epochs, "epochs", 1, MAX_EPOCHS),
         "lr": checks.number(lr, "lr", 0.0, 10.0, low_open=True),
         "batch_size": checks.integer(batch_size, "batch_size", 1, MAX_POINTS),
         "seed": checks.integer(seed, "seed", 0, MAX_SEED)}
    data = polynomial_data(checks.integer(n_train, "n_train", 1, MAX_POINTS), checks.integer(n_test, "n_test", 1, MAX_POINTS),
                           seed=s["seed"])
    return data, _train(degrees, *data, **s), s


def _train(degrees, x_train, y_train, x_test, y_test, *, seed, weight_decay, epochs, lr, batch_size):
    """Train one polynomial per degree together, as the columns of one weight matrix: the same
    points, start and batches for each (column k's weights above degrees[k] are held at 0).
    Returns (weights (max degree + 1, K), train loss (epochs, K), test loss (epochs, K))."""
    top = max(degrees)
    _, _, init_rng, order_rng = _streams(seed)
    l2 = get_loss("l2")
    X, Y = features(torch.from_numpy(x_train), top), torch.from_numpy(y_train)[:, None]
    X_test, Y_test = features(torch.from_numpy(x_test), top), torch.from_numpy(y_test)[:, None]
    # PyTorch's default start of a linear layer (d2l 4.4's net), U(-1/sqrt(fan_in), 1/sqrt(fan_in));
    # the same uniform draws for every degree, scaled.
    draws = torch.from_numpy(init_rng.uniform(-1.0, 1.0, size=MAX_DEGREE + 1)[:top + 1])
    active = torch.stack([(torch.arange(top + 1) <= d).double() for d in degrees], dim=1)  # (top + 1, K)
    scale = torch.tensor([1.0 / math.sqrt(d + 1) for d in degrees], dtype=torch.float64)
    w = draws[:, None] * scale * active
    decayed = active.clone()
    decayed[0] = 0.0  # the constant term is the bias: not decayed (d2l 4.5)
    n_train = len(x_train)
    batch = min(batch_size, n_train)
    train_loss, test_loss = torch.empty(epochs, len(degrees), dtype=torch.float64), torch.empty(epochs, len(degrees), dtype=torch.float64)
    for epoch in range(epochs):
        order = torch.from_numpy(order_rng.permutation(n_train))
        for start in range(0, n_train, batch):
            idx = order[start:start + batch]
            xb = X[idx]
            # d/dw mean (x.w - y)^2 = 2 X^T l2'(x.w, y) / B, l2' = the registry's closed form
            grad = 2.0 * (xb.T @ l2.grad_fn(xb @ w, Y[idx])) / len(idx) * active + weight_decay * decayed * w
            w = w - lr * grad
        train_loss[epoch] = 2.0 * l2.value_fn(X @ w, Y).mean(0)
        test_loss[epoch] = 2.0 * l2.value_fn(X_test @ w, Y_test).mean(0)
    return w, train_loss, test_loss


def capacity_curve(degrees=range(1, MAX_DEGREE + 1), *, n_train: int = 100, n_test: int = 100, weight_decay: float = 0.0,
                   epochs: int = 400, lr: float = 0.01, batch_size: int = 10, seed: int = 0) -> CapacityCurve:
    """Final train and test loss of ``polynomial_fit(d, ...)`` (the same settings) for each degree d: the same
    points, start and batches for every degree, so only the capacity changes. The degrees train
    together, as the columns of one weight matrix (one pass instead of one per degree); the
    numbers equal each ``polynomial_fit``'s to rounding (the sums run over more, zero, terms).

    Returns:
        A ``CapacityCurve`` with ``train_loss`` and ``test_loss`` of shape (len(degrees),).
    """
    degrees = tuple(checks.integer(d, "degree", 1, MAX_DEGREE) for d in degrees)
    if not degrees:
        raise ValueError("degrees must name at least one degree in [1, 20], got none")
    (x_train, *_), (_, train_loss, test_loss), s = _fit(degrees, n_train=n_train, n_test=n_test, weight_decay=weight_decay,
                                                        epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return CapacityCurve(degrees, train_loss[-1].numpy().copy(), test_loss[-1].numpy().copy(), s["weight_decay"], len(x_train),
                         s["epochs"])
