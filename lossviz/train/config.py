"""The one source of truth for a training run's settings: ``TrainConfig``.

Every field carries its help text; the ``lossviz compare`` flags, their defaults and help, the
explorer's job manager (which writes a config file for ``--config``) and the run folder's
``config.json`` are all derived from this dataclass. Importing this module does not import
torch: the command line parses its arguments before anything heavy is loaded.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from lossviz import checks

REGRESSION_TARGETS = ("probs", "logits")
CONFIG_BYTES = 1 << 20  # the largest config file read (a real one is under 2 kB)
# The most parameters of the models trained side by side (every loss's copy together): 100 M
# float32 = 400 MB, held several times over in training (weights, gradients, the checkpoint
# and its copies). A bigger model is refused before anything is allocated; so is one that
# would not fit in this machine's memory (``memory_cap``).
MAX_PARAMETERS = 100_000_000
N_INPUTS, N_CLASSES = 784, 10  # Fashion-MNIST's 28 x 28 images and 10 classes
NOISE_KINDS = ("symmetric", "pairflip")

# Loss parameters whose registry default teaches the wrong thing for a regression target. On
# probabilities every residual lies in [-1, 1], so Huber with its registry default delta = 1
# *is* L2 there; delta = 0.5 puts the switch from quadratic to linear in the middle of that
# range: a confidently wrong class (|r| > 0.5) is pulled like L1, a nearly right one like L2.
TARGET_DEFAULTS: dict[str, dict[str, dict[str, float]]] = {
    "probs": {"huber": {"delta": 0.5}, "smooth_l1": {"beta": 0.5}},
}


def _opt(help: str, default=MISSING, *, factory=None, flag: str | None = "", metavar: str | None = None, parse=None):
    """A config field with its command-line face: ``flag`` ("" = derived from the name, None = no
    flag), ``parse`` (text -> value) and ``help`` (the default is appended by the CLI)."""
    meta = {"help": help, "flag": flag, "metavar": metavar, "parse": parse}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def csv(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(t.strip() for t in str(text).split(",") if t.strip())


def int_list(text: str) -> tuple[int, ...]:
    """``"256,128"`` -> ``(256, 128)``; one clear error for anything else."""
    try:
        return tuple(int(t) for t in csv(text))
    except ValueError:
        raise ValueError(f"expected whole numbers separated by commas, e.g. 256,128; got {checks.shown(text)}") from None


def optional_int(text: str) -> int | None:
    return None if str(text).strip().lower() in ("", "none", "all") else int(text)


@dataclass
class TrainConfig:
    """What ``lossviz compare`` trains, as plain data (JSON in the run folder's config.json)."""

    losses: tuple[str, ...] = _opt("comma-separated registry losses, compared side by side",
                                   ("cross_entropy", "l2", "l1", "huber"), parse=csv, metavar="NAMES")
    model: str = _opt("a registered model: softmax (softmax regression) or mlp", "softmax", metavar="NAME")
    hidden: tuple[int, ...] | None = _opt("hidden layer widths of the MLP, e.g. 256 or 256,128 (default: 256)",
                                          None, parse=int_list, metavar="N[,N...]")
    activation: str = _opt("the MLP's hidden activation: any elementwise registry activation", "relu", metavar="NAME")
    epochs: int = _opt("passes over the training set", 10, parse=int)
    lr: float = _opt("learning rate of plain minibatch SGD (d2l's sgd)", 0.1, parse=float)
    batch_size: int = _opt("minibatch size", 256, parse=int)
    weight_decay: float = _opt("L2 penalty lambda on the weights (not the biases), as d2l 4.5: "
                               "w -= lr * (grad + lambda * w)", 0.0, parse=float, metavar="LAMBDA")
    seeds: int = _opt("independent repeats (seed, seed + 1, ...), for mean +- std", 1, parse=int)
    seed: int = _opt("first seed: initial weights and minibatch order", 0, parse=int)
    regression_target: str = _opt("regression losses (L1, L2, Huber, ...) compare the one-hot target with the "
                                  "softmax probabilities (probs) or the raw logits", "probs", metavar="{probs,logits}")
    loss_params: dict = _opt("each loss's parameters, {loss: {param: value}}; set with --param LOSS.PARAM=X. "
                             "Defaults: the registry's, except on probabilities Huber delta 0.5 and smooth_l1 beta 0.5 "
                             "(with delta 1 every residual in [-1, 1] is quadratic: Huber would be L2)",
                             factory=dict, flag=None)
    activation_params: dict = _opt("the hidden activation's parameters; set with --param ACTIVATION.PARAM=X",
                                   factory=dict, flag=None)
    device: str = _opt("auto (cuda when available), cpu, cuda or cuda:N", "auto")
    train_subset: int | None = _opt("use only the first N training images (quick runs)", None, parse=optional_int, metavar="N")
    test_subset: int | None = _opt("evaluate on the first N test images only", None, parse=optional_int, metavar="N")
    label_noise: float = _opt("corrupt this fraction of the training labels (test labels never): the same corrupted "
                              "labels for every loss, drawn from --seed; the run folder records which labels flipped",
                              0.0, parse=float, metavar="RATE")
    noise: str = _opt("how --label-noise corrupts a label: symmetric (to one of the other classes, uniformly) or "
                      "pairflip (class c to c + 1)", "symmetric", metavar="{symmetric,pairflip}")
    holdout: int = _opt("keep the last N training images out of training: a held-out set (with clean labels) "
                        "for temperature scaling in `lossviz study calibration`", 0, parse=int, metavar="N")

    # --- validation -----------------------------------------------------------------------

    def validate(self) -> "TrainConfig":
        """Check every field and fill in what defaults to the model or the target (hidden
        widths, every loss's parameters), so the config says exactly what trains.
        ``ValueError`` with one clear sentence otherwise."""
        from lossviz.registry import activations, get_activation, get_loss, losses
        from lossviz.train.models import get_model

        if isinstance(self.losses, str):
            self.losses = csv(self.losses)
        if not isinstance(self.losses, (list, tuple)) or not all(isinstance(n, str) for n in self.losses):
            raise ValueError(f"losses must be a list of loss names, got {checks.shown(self.losses)}")
        self.losses = tuple(self.losses)
        if not self.losses:
            raise ValueError("give at least one loss")
        if len(self.losses) > 32:
            raise ValueError(f"at most 32 losses side by side, got {len(self.losses)}")
        if len(set(self.losses)) != len(self.losses):
            raise ValueError(f"a loss is listed twice: {', '.join(self.losses)}")
        for name in self.losses:
            checks.choice(name, "loss", losses())  # (the message lists the names; a long name is cut)
        checks.choice(self.regression_target, "regression target", REGRESSION_TARGETS)
        self.loss_params = self._resolve_loss_params(get_loss)
        spec = get_model(self.model)
        self.hidden = spec.resolve_hidden(self.hidden)
        if not isinstance(self.activation, str):
            raise ValueError(f"activation must be a name, got {checks.shown(self.activation)}")
        act = get_activation(checks.choice(self.activation, "activation", activations()))
        if act.kind != "elementwise":
            valid = [a for a in activations() if get_activation(a).kind == "elementwise"]
            raise ValueError(f"the hidden activation must be elementwise; valid: {', '.join(valid)}")
        if not isinstance(self.activation_params, dict):
            raise ValueError(f"activation_params must be a mapping, got {checks.shown(self.activation_params)}")
        self.activation_params = act.resolve(self.activation_params)
        for name, lo, hi in (("epochs", 1, 10_000), ("batch_size", 1, 1_000_000), ("seeds", 1, 100)):
            setattr(self, name, checks.integer(getattr(self, name), name, lo, hi))
        check_size(len(self.losses), self.hidden, self.batch_size)
        self.seed = checks.integer(self.seed, "seed", 0, 2**32 - 1 - self.seeds)  # seed * 100_003 + epoch must fit torch's generator
        self.lr = checks.number(self.lr, "lr", 0, 1e4, low_open=True, high_open=True)
        self.weight_decay = checks.number(self.weight_decay, "weight_decay", 0, 1e4, high_open=True)
        for name in ("train_subset", "test_subset"):
            if getattr(self, name) is not None:
                setattr(self, name, checks.integer(getattr(self, name), name, 1, 10**9))
        self.label_noise = checks.number(self.label_noise, "label_noise", 0, 1, high_open=True)
        self.noise = checks.choice(self.noise, "noise", NOISE_KINDS)
        self.holdout = checks.integer(self.holdout, "holdout", 0, 10**9)
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a name such as cpu or cuda, got {checks.shown(self.device)}")
        resolve_device(self.device)
        return self

    def _resolve_loss_params(self, get_loss) -> dict:
        if not isinstance(self.loss_params, dict):
            raise ValueError(f"loss_params must be a mapping {{loss: {{param: value}}}}, got {checks.shown(self.loss_params)}")
        for name, p in self.loss_params.items():
            if name not in self.losses:
                raise ValueError(f"parameters given for {checks.shown(name)}, which is not among the compared losses")
            if not isinstance(p, dict):
                raise ValueError(f"parameters of {checks.shown(name)} must be a mapping, got {checks.shown(p)}")
        target = TARGET_DEFAULTS.get(self.regression_target, {})
        out = {}
        for name in self.losses:
            spec = get_loss(name)
            given = {**(target.get(name, {}) if spec.kind == "regression" else {}), **self.loss_params.get(name, {})}
            resolved = spec.resolve(given)
            if resolved:
                out[name] = resolved
        return out

    # --- as plain data --------------------------------------------------------------------

    def to_dict(self) -> dict:
        d = asdict(self)
        d["losses"] = list(self.losses)
        d["hidden"] = list(self.hidden) if self.hidden is not None else None
        return d

    @classmethod
    def from_dict(cls, d: object) -> "TrainConfig":
        """A validated config from plain data (a config file, config.json); unknown keys refused."""
        if not isinstance(d, dict):
            raise ValueError(f"a training config must be a JSON object, got {type(d).__name__}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            names = sorted(checks.shown(k) for k in unknown)
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            raise ValueError(f"unknown config keys: {', '.join(names[:5])}{more} (the keys are TrainConfig's fields)")
        d = dict(d)
        if isinstance(d.get("hidden"), list):
            d["hidden"] = tuple(d["hidden"])
        try:
            return cls(**d).validate()
        except TypeError as e:
            raise ValueError(f"bad training config: {checks.shown(str(e), 120)[1:-1]}") from None

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> "TrainConfig":
        """A config file (JSON, any subset of the fields), with ``overrides`` on top.

        Read with a bound: a regular file of at most ``CONFIG_BYTES`` (a device such as
        /dev/zero, a FIFO or a huge file is refused at once); every error is one short line."""
        from lossviz.files import read_bounded

        path = Path(path)
        where = checks.shown(str(path), 80)[1:-1]
        text = read_bounded(path, CONFIG_BYTES, "config file")
        try:
            d = json.loads(text.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{where} is not valid JSON ({checks.shown(str(e), 80)[1:-1]})") from None
        except RecursionError:
            raise ValueError(f"{where} is not a training config: its JSON is nested too deeply") from None
        if not isinstance(d, dict):
            raise ValueError(f"{where}: a training config must be a JSON object, got {type(d).__name__}")
        try:
            return cls.from_dict({**d, **overrides})
        except RecursionError:
            raise ValueError(f"{where}: a value is nested too deeply") from None
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None


def parameter_count(hidden, n_inputs: int = N_INPUTS, n_classes: int = N_CLASSES) -> int:
    """Weights and biases of one model with these hidden widths (a stack of linear layers)."""
    widths = [n_inputs, *(hidden or ()), n_classes]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


def memory_cap() -> int | None:
    """Bytes of memory this machine has (None where it cannot tell)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_size(n_models: int, hidden, batch_size: int) -> None:
    """Refuse models that cannot be held: more than ``MAX_PARAMETERS`` parameters side by side, or
    weights (x 8: gradients, checkpoint copies) plus a minibatch's activations (x 4) beyond half
    this machine's memory. One line naming the cap."""
    params = n_models * parameter_count(hidden)
    widths = (*(hidden or ()), N_CLASSES)
    activations = n_models * batch_size * sum(widths)
    if params > MAX_PARAMETERS:
        raise ValueError(f"the model is too large: {n_models} x {parameter_count(hidden):,} = {params:,} parameters side by "
                         f"side (hidden {','.join(map(str, hidden or ())) or 'none'}); the cap is {MAX_PARAMETERS:,}: "
                         "use narrower --hidden layers or fewer losses")
    need = 4 * (8 * params + 4 * activations)  # float32
    have = memory_cap()
    if have is not None and need > have // 2:
        raise ValueError(f"the model and a minibatch need about {need / 2**30:.1f} GiB ({params:,} parameters, "
                         f"batch {batch_size}); the cap is half this machine's memory, {have / 2**31:.1f} GiB: "
                         "use narrower --hidden layers, a smaller --batch-size or fewer losses")


def cli_fields():
    """The fields that are command-line flags: (field, flag, parse, metavar, help with default)."""
    out = []
    for f in fields(TrainConfig):
        meta = f.metadata
        if meta.get("flag") is None:
            continue
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else f.default_factory()
        text = meta["help"]
        if "(default" not in text:
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            text += f" (default: {'all' if shown is None else shown})"
        out.append((f, flag, meta.get("parse") or str, meta.get("metavar"), text))
    return out


def resolve_device(name: str):
    """``"auto"`` / ``"cpu"`` / ``"cuda[:N]"`` -> a torch.device that exists here."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {checks.shown(name)}; use auto, cpu or cuda[:N]") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {checks.shown(name)}; use auto, cpu or cuda[:N]")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device cuda requested but CUDA is not available here; use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {name} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev
