"""Small data sets and live side-by-side training for the playground: what each loss does to a model.

Two set-ups, each trained with several losses side by side from the same initial weights on
the same minibatches, with the trainer's stacked models (``lossviz.train.models``: init,
forward, sgd_step) and the registry's closed-form gradients: the losses that train here are the
losses that are drawn. The toy has its own small config (``ToyConfig``) and its own model names:
"linear" (one linear layer: a line, or a linear classifier) and "mlp" (hidden layers).

- **Regression with outliers**: points on a line plus noise, a fraction of them moved far
  below it; a line (or a small MLP) fitted with each regression loss. Each point's pull on each
  fit is |dl/dy_hat| from the registry's ``grad``: L2 pulls hardest on the farthest points, L1
  pulls every point equally, Huber in between.
- **Classification in 2-D**: TensorFlow Playground's circle, xor, gaussian and spiral, and
  scikit-learn's moons; input noise, label noise, a train/test split; one decision map per loss.

Everything is plain data: a ``ToyState`` (step and weights) goes in, a new state and the
pictures' arrays come out, so a browser tab can hold its own state and the server stays
stateless. Nothing here draws or writes files.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field

import torch

from lossviz import checks, train
from lossviz.capacity import CapacityCurve, PolynomialFit, capacity_curve, polynomial_fit  # noqa: F401 - d2l 4.4's polynomials, part of the toy's API
from lossviz.registry import activations, get_activation, get_loss, losses
from lossviz.train import models
from lossviz.train.config import TARGET_DEFAULTS

DATASETS = ("circle", "xor", "gaussian", "spiral", "moons")
DOMAIN = 6.0  # inputs live in [-6, 6]^2, as in TensorFlow Playground
SHAPES = ("line", "wave")  # the clean curve under the regression points
WAVE = (2.0, 1.2)  # "wave": the line plus 2 sin(1.2 x), a curve that a line cannot fit and a small MLP can
TASKS = ("regression", "classification")
MODELS = ("linear", "mlp")  # the toy's model names
# The trainer's model registry entry that builds each: its "softmax" model is one linear layer
# (inputs -> scores; the softmax belongs to the loss), which is the toy's "linear".
TRAINER_MODEL = {"linear": "softmax", "mlp": "mlp"}
REGRESSION_PRESETS = {
    # name: (outlier fraction, outlier size, noise, shape, model). On a line the outliers sit at
    # the right end, below it; on a wave they are scattered (see ``line_data``).
    "clean": (0.0, 0.0, 0.3, "line", "linear"),
    "few outliers": (0.1, 6.0, 0.3, "line", "linear"),
    "many outliers": (0.2, 6.0, 0.3, "line", "linear"),
    "heavy noise": (0.0, 0.0, 1.5, "line", "linear"),
    "wave with outliers (MLP)": (0.15, 6.0, 0.3, "wave", "mlp"),
}
REGRESSION_MLP = (16, 16)  # the regression mode's small MLP: 1-16-16-1, tanh
MAX_POINTS = 2000
MAX_STEPS = 20_000
MAX_SEED = 2**31


# --- data sets --------------------------------------------------------------------------------


@dataclass
class LineData:
    """Points (x, y) around the clean curve (``clean``): the line y = slope * x + intercept, or
    for ``shape`` "wave" that line plus 2 sin(1.2 x); ``outlier`` marks the moved points."""

    x: torch.Tensor
    y: torch.Tensor
    outlier: torch.Tensor
    slope: float
    intercept: float
    shape: str = "line"

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        """The clean curve at ``x``."""
        return clean_curve(x, self.slope, self.intercept, self.shape)


def clean_curve(x: torch.Tensor, slope: float, intercept: float, shape: str) -> torch.Tensor:
    """slope * x + intercept, plus 2 sin(1.2 x) for the "wave"."""
    y = slope * x + intercept
    return y + WAVE[0] * torch.sin(WAVE[1] * x) if shape == "wave" else y


def line_data(n: int = 40, *, slope: float = 1.0, intercept: float = 0.0, noise: float = 0.3,
              outlier_frac: float = 0.2, outlier_size: float = 6.0, seed: int = 0, shape: str = "line") -> LineData:
    """``n`` points with x uniform in [-3, 3], y = the clean curve + N(0, noise^2) (``shape``:
    "line", or "wave" for the line plus 2 sin(1.2 x)). ``outlier_frac`` of the points are moved
    ``outlier_size`` below it: on a line the points of largest x (high leverage: they tilt a
    least-squares line most); on a wave points drawn at random (a flexible model can bend to a
    block of outliers at one end whatever its loss, which is another lesson)."""
    shape = checks.choice(shape, "shape", SHAPES)
    n = checks.integer(n, "n", 2, MAX_POINTS)
    noise = checks.number(noise, "noise", 0, 10)
    outlier_frac = checks.number(outlier_frac, "outlier_frac", 0, 0.5)
    outlier_size = checks.number(outlier_size, "outlier_size", 0, 100)
    slope, intercept = checks.number(slope, "slope", -10, 10), checks.number(intercept, "intercept", -10, 10)
    g = torch.Generator().manual_seed(checks.integer(seed, "seed", 0, MAX_SEED))
    x = torch.rand(n, generator=g, dtype=torch.float64) * 6 - 3
    y = clean_curve(x, slope, intercept, shape) + noise * torch.randn(n, generator=g, dtype=torch.float64)
    outlier = torch.zeros(n, dtype=torch.bool)
    k = round(outlier_frac * n)
    if k:
        moved = torch.argsort(x, descending=True)[:k] if shape == "line" else torch.randperm(n, generator=g)[:k]
        outlier[moved] = True
        y = torch.where(outlier, y - outlier_size, y)
    return LineData(x, y, outlier, slope, intercept, shape)


@dataclass
class PointsData:
    """A 2-D classification set: train and test points (N, 2) with labels 0/1; ``flipped``
    marks the training labels that label noise changed."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    flipped: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))


def _points(name: str, n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """TensorFlow Playground's generators (dataset.ts), on [-6, 6]^2; moons as scikit-learn's."""
    def u(*shape, lo=0.0, hi=1.0):
        return torch.rand(*shape, generator=g, dtype=torch.float64) * (hi - lo) + lo

    half = n // 2
    if name == "circle":
        radius = 5.0
        r = torch.cat([u(half, hi=0.5 * radius), u(n - half, lo=0.7 * radius, hi=radius)])
        t = u(n, hi=2 * math.pi)
        x = torch.stack([r * torch.sin(t), r * torch.cos(t)], 1) + u(n, 2, lo=-radius, hi=radius) * noise
        y = torch.cat([torch.ones(half), torch.zeros(n - half)]).long()
    elif name == "xor":
        pts = u(n, 2, lo=-5, hi=5)
        pts += torch.where(pts > 0, 0.3, -0.3)  # padding away from the axes
        x = pts + u(n, 2, lo=-5, hi=5) * noise
        y = (pts[:, 0] * pts[:, 1] >= 0).long()
    elif name == "gaussian":
        std = 0.5 + 3.5 * noise / 0.5  # Playground's scale: noise 0 -> 0.5, noise 0.5 -> 4
        centres = torch.cat([torch.full((half, 2), 2.0), torch.full((n - half, 2), -2.0)])
        x = centres + torch.randn(n, 2, generator=g, dtype=torch.float64) * std ** 0.5
        y = torch.cat([torch.ones(half), torch.zeros(n - half)]).long()
    elif name == "spiral":
        i = torch.cat([torch.arange(half), torch.arange(n - half)]).double()
        m = torch.cat([torch.full((half,), float(half)), torch.full((n - half,), float(n - half))])
        delta = torch.cat([torch.zeros(half), torch.full((n - half,), math.pi)])
        r = i / m * 5
        t = 1.75 * i / m * 2 * math.pi + delta
        x = torch.stack([r * torch.sin(t), r * torch.cos(t)], 1) + u(n, 2, lo=-1, hi=1) * noise * 5
        y = torch.cat([torch.ones(half), torch.zeros(n - half)]).long()
    elif name == "moons":
        t = u(n, hi=math.pi)
        outer = torch.stack([torch.cos(t), torch.sin(t)], 1)
        inner = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
        first = torch.arange(n) < half
        pts = torch.where(first[:, None], outer, inner)
        x = (pts - torch.tensor([0.5, 0.25])) * 3.5 + torch.randn(n, 2, generator=g, dtype=torch.float64) * noise * 3
        y = first.long()
    else:
        raise ValueError(f"unknown data set {checks.shown(name)}; valid: {', '.join(DATASETS)}")
    return x.clamp(-DOMAIN, DOMAIN), y


def points_data(name: str = "circle", n: int = 400, *, noise: float = 0.0, label_noise: float = 0.0,
                train_fraction: float = 0.5, seed: int = 0) -> PointsData:
    """One of ``DATASETS`` with ``n`` points, input ``noise`` in [0, 0.5] (Playground's slider),
    a fraction ``label_noise`` of the training labels flipped, shuffled and split."""
    name = checks.choice(name, "data set", DATASETS)
    n = checks.integer(n, "n", 10, MAX_POINTS)
    noise = checks.number(noise, "noise", 0, 0.5)
    label_noise = checks.number(label_noise, "label_noise", 0, 0.5)
    train_fraction = checks.number(train_fraction, "train_fraction", 0.1, 0.9)
    g = torch.Generator().manual_seed(checks.integer(seed, "seed", 0, MAX_SEED))
    x, y = _points(name, n, noise, g)
    order = torch.randperm(n, generator=g)
    x, y = x[order].float(), y[order]
    k = max(1, round(train_fraction * n))
    y_train = y[:k].clone()
    flipped = torch.zeros(k, dtype=torch.bool)
    flipped[torch.randperm(k, generator=g)[: round(label_noise * k)]] = True
    y_train[flipped] = 1 - y_train[flipped]
    return PointsData(name, x[:k], y_train, x[k:], y[k:], flipped)


# --- side-by-side training, a few steps at a time ---------------------------------------------


@dataclass
class ToyState:
    """Where a toy training stands: the step count and the stacked weights of the M models."""

    step: int
    params: dict[str, torch.Tensor]

    def to_dict(self, *, compact: bool = False) -> dict:
        """Plain data for a browser store: nested lists, or with ``compact`` each weight tensor
        as {"b64": its float32 bytes in base64, "shape": [...]}: exact, and a seventh of the
        JSON text (a 1-16-16-1 MLP per loss is ~20 KB as lists, sent both ways every frame)."""
        if compact:
            return {"step": self.step, "params": {k: {"b64": base64.b64encode(v.float().contiguous().numpy().tobytes()).decode("ascii"),
                                                      "shape": list(v.shape)} for k, v in self.params.items()}}
        return {"step": self.step, "params": {k: v.tolist() for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, d: object, like: "ToyState") -> "ToyState":
        """A state sent back by a browser, checked against the shapes of ``like`` (a fresh state
        of the same set-up): ``ValueError`` for anything else."""
        if not isinstance(d, dict) or not isinstance(d.get("params"), dict):
            raise ValueError("not a playground state")
        step = checks.integer(d.get("step"), "step", 0, 10**9)
        params = {}
        for k, ref in like.params.items():
            try:
                raw = d["params"][k]
                if isinstance(raw, dict):  # to_dict(compact=True)
                    buf = base64.b64decode(raw["b64"], validate=True)
                    shape = tuple(raw["shape"])
                    if len(buf) != 4 * ref.numel() or not all(isinstance(n, int) for n in shape):
                        raise ValueError
                    t = torch.frombuffer(bytearray(buf), dtype=torch.float32).reshape(shape).to(ref.dtype)
                else:
                    t = torch.tensor(raw, dtype=ref.dtype)
            except (KeyError, TypeError, ValueError, RuntimeError, binascii.Error):
                raise ValueError(f"playground state: bad or missing {k}") from None
            if t.shape != ref.shape:
                raise ValueError(f"playground state: {k} has shape {tuple(t.shape)}, expected {tuple(ref.shape)}")
            if not torch.isfinite(t).all():
                bad = int((~torch.isfinite(t)).sum())
                raise ValueError(f"playground state: {k} holds {bad} non-finite value{'s' if bad > 1 else ''} (NaN or inf)")
            params[k] = t
        if set(d["params"]) != set(like.params):
            raise ValueError("playground state: unexpected parameters")
        return cls(step, params)


@dataclass
class ToyConfig:
    """What a toy training is: the losses side by side and one small model per loss.

    The fields ``losses``, ``loss_params`` and ``regression_target`` mean what they mean in the
    trainer's ``TrainConfig``, so the trainer's loss functions (``lossviz.train.logit_grads``,
    ``evaluate``) apply to a classification toy as they do to Fashion-MNIST."""

    task: str  # "regression" (fit y from x, one output) or "classification" (2-D points, 2 classes)
    losses: tuple[str, ...]  # registry losses, one model each, trained side by side
    model: str = "linear"  # "linear": one linear layer (a line, a linear classifier); "mlp": hidden layers
    hidden: tuple[int, ...] = ()  # the MLP's hidden widths, e.g. (8, 8); empty for "linear"
    activation: str = "tanh"  # the MLP's hidden activation (an elementwise registry activation)
    activation_params: dict = field(default_factory=dict)  # its parameters (registry defaults filled in)
    lr: float = 0.1  # learning rate of plain SGD on the mean loss of a batch
    batch_size: int | None = None  # examples per step (classification); None: the whole set (full-batch descent)
    weight_decay: float = 0.0  # L2 penalty lambda on the weights, as the trainer's
    loss_params: dict = field(default_factory=dict)  # {loss: {param: value}}; every loss's parameters once validated
    seed: int = 0  # initial weights and minibatch order

    @property
    def regression_target(self) -> str:
        """What a regression loss compares with the target: in 2-D classification, the softmax
        probabilities against one-hot rows (as ``lossviz compare``); in regression, the output."""
        return "probs" if self.task == "classification" else "logits"

    def validate(self) -> "ToyConfig":
        """Check every field, fill in the parameters' defaults; ``ValueError`` otherwise."""
        self.task = checks.choice(self.task, "task", TASKS)
        names = tuple(self.losses) if isinstance(self.losses, (list, tuple)) else (self.losses,)
        if not names or len(names) > 32 or len(set(names)) != len(names):
            raise ValueError(f"losses must be 1 to 32 distinct loss names, got {checks.shown(self.losses)}")
        self.losses = tuple(checks.choice(n, "loss", losses()) for n in names)
        if self.task == "regression":
            for name in self.losses:
                if get_loss(name).kind != "regression":
                    raise ValueError(f"{name} is not a regression loss; the fit needs one of: "
                                     + ", ".join(n for n in losses() if get_loss(n).kind == "regression"))
        self.model = checks.choice(self.model, "model", MODELS)
        self.hidden = tuple(checks.integer(h, "hidden width", 1, 1024) for h in (self.hidden or ()))
        if (self.model == "mlp") != bool(self.hidden) or len(self.hidden) > 8:
            raise ValueError(f"an mlp has 1 to 8 hidden widths and a linear model none; got {self.model} {self.hidden}")
        self.activation = checks.choice(self.activation, "activation",
                                        [a for a in activations() if get_activation(a).kind == "elementwise"])
        self.activation_params = get_activation(self.activation).resolve(self.activation_params or {})
        self.lr = checks.number(self.lr, "lr", 0, 1e4, low_open=True)
        if self.batch_size is not None:
            self.batch_size = checks.integer(self.batch_size, "batch_size", 1, MAX_POINTS)
        self.weight_decay = checks.number(self.weight_decay, "weight_decay", 0, 1e4)
        self.seed = checks.integer(self.seed, "seed", 0, MAX_SEED)
        if not isinstance(self.loss_params, dict) or set(self.loss_params) - set(self.losses):
            raise ValueError(f"loss_params must map compared losses to parameters, got {checks.shown(self.loss_params)}")
        target = TARGET_DEFAULTS.get(self.regression_target, {})  # e.g. Huber's delta 0.5 on probabilities
        resolved = {}
        for name in self.losses:
            spec = get_loss(name)
            given = {**(target.get(name, {}) if spec.kind == "regression" else {}), **self.loss_params.get(name, {})}
            if spec.resolve(given):
                resolved[name] = spec.resolve(given)
        self.loss_params = resolved
        return self


@dataclass
class ToySetup:
    """A side-by-side toy training: its config and its data (``PointsData`` for classification,
    ``LineData`` for regression)."""

    config: ToyConfig
    data: PointsData | LineData

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def x(self) -> torch.Tensor:
        return self.data.x_train if self.task == "classification" else self.data.x[:, None].float()

    def new_state(self) -> ToyState:
        c = self.config
        n_in, n_out = (2, 2) if self.task == "classification" else (1, 1)
        # Glorot's init (init_std=None): d2l's 0.01 leaves small deep nets at rest for thousands of steps.
        model = models.init_model(TRAINER_MODEL[c.model], len(c.losses), n_inputs=n_in, n_classes=n_out,
                                  hidden=c.hidden or None, activation=c.activation, activation_params=c.activation_params,
                                  seed=c.seed, init_std=None)
        return ToyState(0, model.params)

    def model(self, state: ToyState) -> models.StackedModel:
        c = self.config
        act = c.activation if c.hidden else None
        return models.StackedModel(TRAINER_MODEL[c.model], state.params, act, c.activation_params if act else None)


def classification_setup(data: PointsData, losses=("cross_entropy", "hinge", "l2"), *, hidden=(8, 8),
                         activation: str = "tanh", lr: float = 0.1, batch_size: int = 10, weight_decay: float = 0.0,
                         loss_params: dict | None = None, seed: int = 0) -> ToySetup:
    """Classification losses (on logits) and regression losses (on the softmax probabilities
    against one-hot targets, as in ``lossviz compare``) side by side on a 2-D set: an MLP with
    ``hidden`` widths, or a linear classifier (``hidden=()``)."""
    config = ToyConfig("classification", tuple(losses), model="mlp" if hidden else "linear", hidden=tuple(hidden),
                       activation=activation, lr=lr, batch_size=batch_size, weight_decay=weight_decay,
                       loss_params=dict(loss_params or {}), seed=seed).validate()
    return ToySetup(config, data)


def regression_setup(data: LineData, losses=("l2", "l1", "huber"), *, hidden=(), activation: str = "tanh",
                     lr: float = 0.05, loss_params: dict | None = None, seed: int = 0) -> ToySetup:
    """Regression losses side by side fitting y from x: a line (``hidden=()``) or a small MLP.
    Full-batch gradient descent on the mean loss, the registry's closed-form gradients."""
    config = ToyConfig("regression", tuple(losses), model="mlp" if hidden else "linear", hidden=tuple(hidden),
                       activation=activation, lr=lr, loss_params=dict(loss_params or {}), seed=seed).validate()
    return ToySetup(config, data)


@torch.inference_mode()
def advance(setup: ToySetup, state: ToyState, steps: int) -> ToyState:
    """``steps`` more SGD steps of every model, side by side; returns the new state (the old one
    is not changed). The minibatches depend only on (seed, step), as in the trainer."""
    steps = checks.integer(steps, "steps", 0, MAX_STEPS)
    model = setup.model(ToyState(state.step, {k: v.clone() for k, v in state.params.items()}))
    c, m = setup.config, len(setup.config.losses)
    x = setup.x
    if setup.task == "regression":
        y = setup.data.y[:, None].float()
        lr = torch.full((m,), c.lr)
        for _ in range(steps):
            out, cache = models.forward(model, x)  # (N, M, 1)
            g = torch.stack([get_loss(name).grad_fn(out[:, i], y, **c.loss_params.get(name, {}))
                             for i, name in enumerate(c.losses)], 1)
            models.sgd_step(model, cache, g, lr / len(y))
        return ToyState(state.step + steps, model.params)
    y = setup.data.y_train
    n = len(y)
    bs = n if c.batch_size is None else min(c.batch_size, n)
    per_epoch = train.batches_per_epoch(n, bs)
    lr = torch.full((m,), c.lr)
    decay = lr * c.weight_decay if c.weight_decay else None
    for s in range(state.step, state.step + steps):
        epoch, i = divmod(s, per_epoch)
        rows = train.batch_order(n, c.seed, epoch + 1)[i * bs:(i + 1) * bs]
        xb = x.index_select(0, rows)
        out, cache = models.forward(model, xb)
        d = train.logit_grads(c, out, train.one_hot(y.index_select(0, rows), out, 2))
        models.sgd_step(model, cache, d, lr / len(rows), decay)
    return ToyState(state.step + steps, model.params)


@torch.inference_mode()
def classification_frame(setup: ToySetup, state: ToyState, grid: int = 60, *, metrics: bool = True) -> dict:
    """What a frame shows: per loss, train/test loss and accuracy, and the probability of class
    1 on a ``grid`` x ``grid`` map of [-6, 6]^2 (float32 arrays, (M, grid, grid)).
    ``metrics=False``: the maps only (a live view that updates its curves every few frames)."""
    grid = checks.integer(grid, "grid", 4, 200)
    model, c, d = setup.model(state), setup.config, setup.data
    axis = torch.linspace(-DOMAIN, DOMAIN, grid)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    logits, _ = models.forward(model, torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))
    p1 = torch.softmax(logits.float(), -1)[..., 1].T.reshape(len(c.losses), grid, grid)
    frame = {"step": state.step, "losses": list(c.losses), "axis": axis.numpy(), "prob": p1.numpy()}
    if metrics:
        train_eval, test_eval = train.evaluate(model, c, d.x_train, d.y_train), train.evaluate(model, c, d.x_test, d.y_test)
        frame.update(train_loss=[e.loss for e in train_eval], test_loss=[e.loss for e in test_eval],
                     train_acc=[e.acc for e in train_eval], test_acc=[e.acc for e in test_eval])
    return frame


@torch.inference_mode()
def regression_frame(setup: ToySetup, state: ToyState, points: int = 101) -> dict:
    """What a frame shows: each loss's fit on a grid of x, each point's pull |dl/dy_hat| on
    each fit (N, M), and each fit's RMS distance from the clean curve over [-3, 3] (and the
    clean curve itself, ``clean``)."""
    model, c, d = setup.model(state), setup.config, setup.data
    xs = torch.linspace(-3, 3, checks.integer(points, "points", 2, 2000))
    fit, _ = models.forward(model, xs[:, None])
    at, _ = models.forward(model, setup.x)
    y = d.y[:, None].float()
    pull = torch.stack([get_loss(name).grad_fn(at[:, i], y, **c.loss_params.get(name, {})).abs()[:, 0]
                        for i, name in enumerate(c.losses)], 1)
    clean = d.clean(xs)
    error = ((fit[:, :, 0] - clean[:, None]) ** 2).mean(0).sqrt()
    losses = [get_loss(name).value_fn(at[:, i], y, **c.loss_params.get(name, {})).mean().item()
              for i, name in enumerate(c.losses)]
    return {"step": state.step, "losses": list(c.losses), "x": xs.numpy(), "clean": clean.numpy(), "fit": fit[:, :, 0].T.numpy(),
            "pull": pull.T.numpy(), "error": error.tolist(), "loss": losses}


def fitted_lines(setup: ToySetup, state: ToyState) -> list[tuple[float, float]]:
    """(slope, intercept) of each loss's line (the line model only)."""
    if setup.config.hidden:
        raise ValueError("the fit is an MLP, not a line")
    return [(state.params["w1"][m, 0, 0].item(), state.params["b1"][m, 0].item()) for m in range(len(setup.config.losses))]


def run(setup: ToySetup, steps: int, *, every: int = 10) -> list[dict]:
    """Train from scratch for ``steps`` steps; the frames every ``every`` steps (and the last):
    plain data in, plain history out, for notes and tests without a browser."""
    every = checks.integer(every, "every", 1, MAX_STEPS)
    frame = classification_frame if setup.task == "classification" else regression_frame
    state, history = setup.new_state(), []
    done = 0
    while done < steps:
        k = min(every, steps - done)
        state = advance(setup, state, k)
        done += k
        history.append(frame(setup, state))
    return history
