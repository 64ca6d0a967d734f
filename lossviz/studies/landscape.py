"""Loss landscapes: each trained model's loss along the line from its initial to its final
weights (Goodfellow, Vinyals & Saxe, ICLR 2015), and on a 2-D slice through its final weights
spanned by two random, filter-normalised directions (Li, Xu, Taylor, Studer & Goldstein,
NeurIPS 2018).

Directions: one Gaussian draw per direction, shaped like one model's weights, the same draw for
every loss of the run (so the slices compare); then, per model, each filter (a row of a weight
matrix: one unit's incoming weights) rescaled to the norm of that model's filter; bias directions
are 0 (Li et al.'s default, ``ignore='biasbn'``).

Fast: the grid points are a batch of weight matrices. The first layer is linear in the grid
coordinates, X (W + a D1 + b D2)^T = X W^T + a X D1^T + b X D2^T, so its three matrix products
over the data serve every grid point; later layers run as one batched product over (model, grid
point) pairs. The loss per point is the registry's function applied as the trainer's
``loss_values`` applies it (tests check the two agree), so the landscape at (0, 0) is the trained
model's training loss.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lossviz import checks
from lossviz.train import models
from lossviz.train.config import TrainConfig

RESULTS_FILE = "landscape.npz"
META_FILE = "landscape.json"
ALPHAS = (-0.5, 1.5, 101)  # the 1-D line: alpha from -0.5 to 1.5 (0: initial, 1: trained weights)
DIRECTION_SEED = 20180
BATCH_FLOATS = 2_000_000  # activations per batch of (grid points x examples)  # the random directions' seed (the same for every run, so runs compare too)


@dataclass
class Landscape:
    """Every model's loss (its own training loss and cross-entropy) on the 1-D line and the 2-D slice."""

    losses: tuple[str, ...]
    alphas: np.ndarray  # (A,)
    line_own: np.ndarray  # (M, A)
    line_ce: np.ndarray  # (M, A)
    coords: np.ndarray  # (G,): a = b = coords, the slice's axes
    surface_own: np.ndarray  # (M, G, G): [m, i, j] at (a = coords[j], b = coords[i])
    surface_ce: np.ndarray  # (M, G, G)
    seconds_2d: float
    seconds_1d: float


# --- directions -------------------------------------------------------------------------------


def random_directions(params: dict[str, torch.Tensor], n: int = 2, seed: int = DIRECTION_SEED) -> list[dict[str, torch.Tensor]]:
    """``n`` random directions for stacked weights (M models first): one Gaussian draw shaped
    like one model, the same for every model, filter-normalised to each model's weights."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        d = {}
        for k in sorted(params):  # a fixed order: the draw does not depend on dict order
            w = params[k]
            if w.dim() <= 2:  # a bias (M, out): direction 0, as Li et al. ignore biases
                d[k] = torch.zeros_like(w)
                continue
            draw = torch.randn(w.shape[1:], generator=g, dtype=torch.float64)
            # Each filter (row) of the draw scaled to the norm of the same row of each model's weights.
            scale = w.double().norm(dim=-1, keepdim=True) / (draw.norm(dim=-1, keepdim=True) + 1e-10)
            d[k] = (draw.unsqueeze(0) * scale).to(w.dtype)
        out.append(d)
    return out


def interpolation_direction(initial: dict[str, torch.Tensor], final: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """final - initial, every parameter (biases too): theta(alpha) = final + (alpha - 1) * this."""
    return {k: final[k] - initial[k] for k in final}


# --- evaluation on a batch of grid points ------------------------------------------------------


def _check(config: TrainConfig, params: dict, directions: list[dict]) -> None:
    for d in directions:
        if set(d) != set(params) or any(d[k].shape != params[k].shape for k in params):
            raise ValueError("a direction does not have the shape of the model's weights")


@torch.inference_mode()
def losses_at(config: TrainConfig, params: dict[str, torch.Tensor], directions: list[dict[str, torch.Tensor]],
              coords: torch.Tensor, x: torch.Tensor, labels: torch.Tensor, *, n_classes: int = 10,
              chunk: int | None = None, on_chunk: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss of every model m at every point theta_m + sum_k coords[p, k] * directions[k]_m.

    Args:
        params: the stacked weights of the run's M models (``config.losses`` order).
        directions: K directions shaped like ``params``.
        coords: (P, K) grid coordinates.
        x: (N, n_inputs) inputs as floats; labels (N,).
        chunk: grid points per batch (default: about ``BATCH_FLOATS`` activations per batch).
        on_chunk: called with the number of points done after each batch (a progress bar).

    Returns:
        (own, ce): (M, P) float64 tensors, each model's own training loss (the registry's
        function, applied as the trainer applies it) and cross-entropy, averaged over the N
        examples.

    The grid points of a chunk are g * M stacked models, their first layer made from the K + 1
    products above, the rest by the trainer's ``models.later_layers``; each model's loss is the
    trainer's ``loss_values`` (the heads repeated once per grid point) and the registry's
    cross-entropy.
    """
    from lossviz.registry import get_activation, get_loss
    from lossviz.train import loss_heads, loss_values, one_hot

    _check(config, params, directions)
    coords = torch.as_tensor(coords, dtype=x.dtype)
    p_total, k_dirs = coords.shape
    if k_dirs != len(directions):
        raise ValueError(f"coords give {k_dirs} coordinates per point for {len(directions)} directions")
    model = _stacked(config, params)
    n, m, n_layers = len(labels), model.n_models, model.n_layers
    heads = loss_heads(config)
    cross_entropy = get_loss("cross_entropy").value_fn
    width = params["w1"].shape[1]
    widest = max(v.shape[1] for k, v in params.items() if k.startswith("b"))
    # Examples in blocks, grid points in chunks, so that one batch's activations stay near 2 M
    # floats (8 MB): cache-friendly, and below the size where every allocation is a fresh mmap.
    block = max(1, min(n, BATCH_FLOATS // (m * widest)))
    if chunk is None:
        chunk = max(1, min(p_total, BATCH_FLOATS // (block * m * widest)))
    blocks = []
    for lo in range(0, n, block):
        xb, y = x[lo:lo + block], labels[lo:lo + block]
        # Layer 1 at the base point and along each direction, each (M, nb, H1) flattened, stacked
        # (K + 1, M*nb*H1): a grid point's pre-activations are [1, c_1, ..., c_K] @ this.
        basis = torch.stack([models.linear(xb, p["w1"].reshape(m * width, -1), p["b1"].reshape(-1))
                             .view(len(y), m, width).transpose(0, 1).reshape(-1) for p in (params, *directions)])
        blocks.append((basis, y, one_hot(y, x, n_classes)))
    act = get_activation(model.activation) if n_layers > 1 else None
    own_out = torch.zeros(m, p_total, dtype=torch.float64)
    ce_out = torch.zeros(m, p_total, dtype=torch.float64)
    for start in range(0, p_total, chunk):
        c = coords[start:start + chunk]  # (g, K)
        g = len(c)
        weights = torch.cat([torch.ones(g, 1, dtype=c.dtype), c], 1)  # (g, K + 1)
        # Layer i >= 2 of every (grid point, model) pair: W + sum_k c_k D_k, (g*M, out, in).
        later = [((params[f"w{i}"] + sum(directions[k][f"w{i}"] * c[:, k].view(g, 1, 1, 1) for k in range(k_dirs))).flatten(0, 1),
                  (params[f"b{i}"] + sum(directions[k][f"b{i}"] * c[:, k].view(g, 1, 1) for k in range(k_dirs))).flatten(0, 1))
                 for i in range(2, n_layers + 1)]
        for basis, y, onehot in blocks:
            nb = len(y)
            z = (weights @ basis).view(g * m, nb, width).transpose(0, 1)  # (nb, g*M, H1): g*M models side by side
            if later:
                z = models.later_layers(z, later, act.value_fn, model.activation_params)
            own = loss_values(config, z, onehot, heads * g)  # (nb, g*M): model (point j, loss i) is column j*M + i
            own_out[:, start:start + g] += own.double().sum(0).view(g, m).T
            ce = cross_entropy(z, y.view(-1, 1).expand(nb, g * m))
            ce_out[:, start:start + g] += ce.double().sum(0).view(g, m).T
        if on_chunk is not None:
            on_chunk(g)
    own_out /= n
    ce_out /= n
    return own_out, ce_out


def _stacked(config: TrainConfig, params: dict) -> models.StackedModel:
    from lossviz.train.predict import stacked_model

    return stacked_model(config, params)


# --- a run's landscape ------------------------------------------------------------------------


def check_args(grid: int, span: float, subset: int) -> None:
    checks.integer(grid, "--grid", 3, 401)
    checks.number(span, "--span", 0, 100, low_open=True)
    checks.integer(subset, "--subset", 1, 10**7)


def training_inputs(config: TrainConfig, data, subset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``subset`` images the run trained on, as floats, with the labels it trained on
    (the corrupted ones under --label-noise): what its training loss was measured on."""
    from lossviz.train import prepare
    from lossviz.train.predict import as_inputs

    cpu = TrainConfig.from_dict({**config.to_dict(), "device": "cpu"})
    prep = prepare(cpu, data)
    return as_inputs(prep.train_x[:subset]), prep.train_y[:subset]


def run_landscape(run: Path, data=None, *, grid: int = 41, span: float = 1.0, subset: int = 10_000,
                  on_points: Callable[[int], None] | None = None, chunk: int | None = None,
                  evaluate: Callable | None = None, threads: int | None = None) -> Landscape:
    """The landscape of every model of a run (its first seed), written to ``run/landscape.npz``
    (and ``landscape.json``: what was computed, and how long it took).

    ``evaluate``: computes the 2-D slice's points, with ``losses_at``'s arguments (default:
    ``losses_at`` here; ``ray_grid.landscape_evaluator(address)`` on Ray). ``threads``: torch's
    threads here, as for ``train.compare`` (default one)."""
    from lossviz.train import DEFAULT_THREADS, intra_op_threads

    check_args(grid, span, subset)
    with intra_op_threads(DEFAULT_THREADS if threads is None else threads):
        return _run_landscape(Path(run), data, grid, span, subset, on_points, chunk, evaluate)


def _run_landscape(run: Path, data, grid: int, span: float, subset: int, on_points, chunk, evaluate) -> Landscape:
    from lossviz.files import json_bytes, npz_bytes, write_atomic
    from lossviz.train import outputs, predict, runs

    config, source = runs.read_config(run)
    weights = outputs.read_final_weights(run, config)  # checked: a seed at least, the run's shapes, finite
    seed = config.seed if config.seed in weights else min(weights)
    if data is None:
        from lossviz.data import load_fashion_mnist

        if source is None:
            raise ValueError(f"{run} does not record its data source; pass --data-root")
        data = load_fashion_mnist(source, allow_download=False)
    x, y = training_inputs(config, data, subset)
    if weights[seed]["w1"].shape[-1] != x.shape[1]:
        raise ValueError(f"the data given is not the data {run} was trained on (its images have {x.shape[1]} pixels, "
                         f"the weights expect {weights[seed]['w1'].shape[-1]})")
    final = {k: v.float() for k, v in weights[seed].items()}
    n_classes = final[f"b{len(final) // 2}"].shape[-1]
    if len(y) and int(y.max()) >= n_classes:
        raise ValueError(f"{run / 'weights.pt'}: the models have {n_classes} classes, the data's labels go up to {int(y.max())}")
    initial = predict.initial_model(config, seed, x.shape[1], n_classes).params
    if {k: v.shape for k, v in initial.items()} != {k: v.shape for k, v in final.items()}:
        raise ValueError(f"{run}: the saved weights do not fit the run's model (another lossviz version?)")

    start = time.perf_counter()
    coords = torch.linspace(-span, span, grid, dtype=torch.float64)
    b, a = torch.meshgrid(coords, coords, indexing="ij")  # row i: b = coords[i]; column j: a = coords[j]
    points = torch.stack([a.reshape(-1), b.reshape(-1)], 1)
    if evaluate is None:
        own2, ce2 = losses_at(config, final, random_directions(final), points, x, y, n_classes=n_classes, chunk=chunk,
                              on_chunk=on_points)
    else:
        own2, ce2 = evaluate(config, final, random_directions(final), points, x, y, n_classes=n_classes, on_chunk=on_points)
    seconds_2d = time.perf_counter() - start
    start = time.perf_counter()
    alphas = torch.linspace(*ALPHAS, dtype=torch.float64)
    own1, ce1 = losses_at(config, final, [interpolation_direction(initial, final)], (alphas - 1)[:, None], x, y,
                          n_classes=n_classes, chunk=chunk, on_chunk=on_points)
    seconds_1d = time.perf_counter() - start
    m = len(config.losses)
    result = Landscape(tuple(config.losses), alphas.numpy(), own1.numpy(), ce1.numpy(), coords.numpy(),
                       own2.view(m, grid, grid).numpy(), ce2.view(m, grid, grid).numpy(), seconds_2d, seconds_1d)
    write_atomic(run / RESULTS_FILE, npz_bytes(**_arrays(result)))
    meta = {"seed": seed, "grid": grid, "span": span, "subset": len(y), "direction_seed": DIRECTION_SEED,
            "losses": list(config.losses), "seconds_2d": seconds_2d, "seconds_1d": seconds_1d,
            "points_2d": grid * grid, "points_1d": len(alphas)}
    write_atomic(run / META_FILE, json_bytes(meta))
    return result


def _arrays(result: Landscape) -> dict:
    return dict(losses=np.array(result.losses), alphas=result.alphas, line_own=result.line_own, line_ce=result.line_ce,
                coords=result.coords, surface_own=result.surface_own, surface_ce=result.surface_ce,
                seconds=np.array([result.seconds_2d, result.seconds_1d]))


def read_landscape(run: Path) -> Landscape | None:
    """The run's landscape.npz, or None when it has none; ``ValueError`` naming the file if it is
    damaged (arrays missing, of other shapes than one another, or larger than a landscape is)."""
    from lossviz.files import read_npz

    path = Path(run) / RESULTS_FILE
    if not path.is_file():
        return None
    f = read_npz(path)  # (a ValueError naming the file; nothing allocated beyond what it holds)
    try:
        s = f["seconds"]
        ls = Landscape(tuple(str(n) for n in f["losses"]), f["alphas"], f["line_own"], f["line_ce"], f["coords"],
                       f["surface_own"], f["surface_ce"], float(s[0]), float(s[1]))
        m, a, g = len(ls.losses), ls.alphas.shape, ls.coords.shape
        if not 1 <= m <= 32 or len(a) != 1 or len(g) != 1 or not 2 <= g[0] <= 401 or not 2 <= a[0] <= 10_000:
            raise ValueError(f"{m} losses, alphas {a}, coords {g}")
        for name, arr, shape in (("line_own", ls.line_own, (m, a[0])), ("line_ce", ls.line_ce, (m, a[0])),
                                 ("surface_own", ls.surface_own, (m, g[0], g[0])), ("surface_ce", ls.surface_ce, (m, g[0], g[0]))):
            if arr.shape != shape or arr.dtype.kind != "f":
                raise ValueError(f"{name} is {arr.dtype} {arr.shape}, expected floats {shape}")
        if not (np.isfinite(ls.alphas).all() and np.isfinite(ls.coords).all()):
            raise ValueError("alphas and coords must be finite")
        return ls
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: cannot read ({checks.shown(str(e), 160)[1:-1]})") from None
