"""The Training page's "Train now" form: built from the registries (losses and their
parameters, models, activations), its values turned into a ``TrainConfig`` that a job runs."""

from __future__ import annotations

import secrets

import dash_mantine_components as dmc
from dash import dcc, html

from lossviz import data
from lossviz.explorer import state
from lossviz.presentation import slider
from lossviz.registry import activations, get_activation, get_loss, losses
from lossviz.train.config import TARGET_DEFAULTS, TrainConfig
from lossviz.train.models import get_model, model_names as models

MAX_EPOCHS = 100  # from the explorer; the command line has no such limit
MAX_SEEDS = 10


def loss_param_fields() -> list[tuple[str, object]]:
    return [(n, p) for n in losses() for p in get_loss(n).params]


def elementwise() -> list[str]:
    return [a for a in activations() if get_activation(a).kind == "elementwise"]


def act_param_fields() -> list[tuple[str, object]]:
    return [(a, p) for a in elementwise() for p in get_activation(a).params]


def form_default(loss: str, p) -> float:
    """A loss parameter's form default: the trainer's default on probabilities (TARGET_DEFAULTS)."""
    return TARGET_DEFAULTS.get("probs", {}).get(loss, {}).get(p.name, p.default)


def form_config(form: dict) -> dict:
    """The form's values -> a validated config (plain data, as ``JobManager.start`` takes it).

    ``ValueError`` (``state.InputError`` for a number) with one clear sentence for anything the
    trainer or the explorer refuses.
    """
    chosen = form.get("losses")
    if not isinstance(chosen, list) or not all(isinstance(n, str) for n in chosen) or len(chosen) > len(losses()):
        raise ValueError("choose the losses from the list")
    chosen = list(dict.fromkeys(chosen))
    hidden_text = form.get("hidden")
    model = form.get("model")
    cfg = {
        "losses": chosen, "model": model if isinstance(model, str) else "",
        "activation": form.get("activation") if isinstance(form.get("activation"), str) else "",
        "epochs": state.check_number(form.get("epochs"), "epochs", 1, MAX_EPOCHS, integer=True),
        "lr": state.check_number(form.get("lr"), "learning rate", 1e-6, 100),
        "batch_size": state.check_number(form.get("batch_size"), "batch size", 1, 60_000, integer=True),
        "weight_decay": state.check_number(form.get("weight_decay") or 0, "weight decay", 0, 10),
        "seeds": state.check_number(form.get("seeds"), "seeds", 1, MAX_SEEDS, integer=True),
        "seed": state.check_number(form.get("seed"), "seed", 0, 2**31 - 1, integer=True),
        "regression_target": form.get("target") if form.get("target") in ("probs", "logits") else "probs",
        "loss_params": {}, "activation_params": {},
    }
    subset = form.get("subset")
    if subset not in (None, ""):
        cfg["train_subset"] = state.check_number(subset, "training images", 1, 60_000, integer=True)
    params = form.get("params") if isinstance(form.get("params"), dict) else {}
    # A parameter the form does not send keeps the trainer's default (TrainConfig resolves it).
    for n, p in loss_param_fields():
        if n in chosen and params.get(f"{n}.{p.name}") is not None:
            lo, hi, _ = slider(n, p.name)
            cfg["loss_params"].setdefault(n, {})[p.name] = state.check_number(params.get(f"{n}.{p.name}"), f"{n} {p.name}", lo, hi)
    for a, p in act_param_fields():
        if a == cfg["activation"] and params.get(f"{a}.{p.name}") is not None:
            lo, hi, _ = slider(a, p.name)
            cfg["activation_params"][p.name] = state.check_number(params.get(f"{a}.{p.name}"), f"{a} {p.name}", lo, hi)
    spec = get_model(cfg["model"])
    if spec.hidden is not None and isinstance(hidden_text, str) and hidden_text.strip():
        from lossviz.train.config import int_list

        cfg["hidden"] = list(int_list(hidden_text[:100]))
    if spec.hidden is None:
        cfg["activation_params"] = {}
    return TrainConfig.from_dict(cfg).to_dict()


def data_message(data_root) -> str:
    if data.locate(data_root) is not None:
        return ""
    looked = ", ".join(str(p) for p in data.candidate_roots(data_root))
    return f"Fashion-MNIST not found (looked in: {looked}); {data.HOW_TO_GET}. The rest of the explorer keeps working."


def wrap(key: str, children, hide: set, **kw):
    """A part of the page that ``_hide=KEY`` hides."""
    return html.Div(children, id=f"training-wrap-{key}", style={"display": "none"} if key in hide else {}, **kw)


def form_layout(hide: set):
    model_data = [{"label": get_model(m).title, "value": m} for m in models()]
    param_inputs = []
    for n, p in loss_param_fields():
        lo, hi, step = slider(n, p.name)
        param_inputs.append(html.Div(dmc.NumberInput(id={"type": "training-param", "key": f"{n}.{p.name}"}, label=f"{n} {p.name}",
                                                     description=p.description, value=form_default(n, p), min=lo, max=hi, step=step),
                                     id={"type": "training-param-wrap", "key": f"{n}.{p.name}"}, **{"data-owner": n}))
    for a, p in act_param_fields():
        lo, hi, step = slider(a, p.name)
        param_inputs.append(html.Div(dmc.NumberInput(id={"type": "training-param", "key": f"{a}.{p.name}"}, label=f"{a} {p.name}",
                                                     description=p.description, value=p.default, min=lo, max=hi, step=step),
                                     id={"type": "training-param-wrap", "key": f"{a}.{p.name}"}, **{"data-owner": a}))
    return wrap("form", dmc.Paper([
        dmc.Title("Train now", order=3),
        dmc.SimpleGrid([
            dmc.MultiSelect(id="training-form-losses", label="losses", data=losses(), value=["cross_entropy", "l2", "l1", "huber"],
                            clearable=True),
            dmc.Select(id="training-form-model", label="model", data=model_data, value="softmax", allowDeselect=False),
            dmc.TextInput(id="training-form-hidden", label="hidden widths (MLP)", placeholder="256 or 256,128", value=""),
            dmc.Select(id="training-form-activation", label="hidden activation (MLP)", data=elementwise(), value="relu", allowDeselect=False),
            *param_inputs,
            dmc.NumberInput(id="training-form-epochs", label="epochs", value=10, min=1, max=MAX_EPOCHS, step=1, allowDecimal=False),
            dmc.NumberInput(id="training-form-lr", label="learning rate", value=0.1, min=1e-6, max=100, step=0.05, decimalScale=6),
            dmc.NumberInput(id="training-form-batch", label="batch size", value=256, min=1, max=60000, step=1, allowDecimal=False),
            dmc.NumberInput(id="training-form-decay", label="weight decay λ", value=0, min=0, max=10, step=0.0001, decimalScale=6),
            dmc.NumberInput(id="training-form-seeds", label="seeds (mean ± std bands)", value=1, min=1, max=MAX_SEEDS, step=1, allowDecimal=False),
            dmc.NumberInput(id="training-form-seed", label="first seed", value=0, min=0, step=1, allowDecimal=False),
            dmc.NumberInput(id="training-form-subset", label="training images (empty: all 60,000)", min=1, max=60000, step=1, allowDecimal=False),
            html.Div([dmc.Text("regression losses compare the one-hot target with", size="sm", fw=500),
                      dmc.SegmentedControl(id="training-form-target", data=[{"label": "probabilities", "value": "probs"},
                                                                           {"label": "logits", "value": "logits"}], value="probs")]),
        ], cols={"base": 1, "sm": 2, "lg": 4}, spacing="md", verticalSpacing="sm"),
        # A random id this browser keeps (local storage wins over this fresh one): it only caps
        # jobs at one per visitor under `lossviz serve`, and is trusted for nothing else.
        dcc.Store(id="training-visitor", storage_type="local", data=secrets.token_urlsafe(12)),
        dmc.Group([dmc.Button("Start training", id="training-start", n_clicks=0),
                   dmc.Text(id="training-form-message", c="orange.8", size="sm",
                            style={"overflowWrap": "anywhere", "minWidth": 0, "flex": "1 1 12em"})], mt="md"),
    ], withBorder=True, p="md", radius="md", mt="lg"), hide)
