"""Gradient health over a run, and why a loss stalls: which compared losses barely moved their
training loss, and the causes the run's own records measure (a small gradient at the logits,
vanishing, dead or saturated layers). Plain Python over ``EpochRecord``s: the run folder's
summary and figures read it without torch."""

from __future__ import annotations

from lossviz.train.stats import mean_std

# A loss stalls when its mean train loss changes by less than this fraction of its first-epoch
# value from the first epoch to the last, and (when cross-entropy is compared and does not stall
# itself) by less than STALL_VS_CE of cross-entropy's own relative change.
STALL_CHANGE = 0.01
STALL_VS_CE = 0.1
SMALL_LOGIT_GRADIENT = 0.5  # logit gradient below this fraction of cross-entropy's at the same outputs
VANISHING = 0.01  # first layer's weight-gradient norm below this fraction of the last layer's
MOSTLY = 0.5  # a layer with at least this share of dead (or saturated) units is named
REFERENCE = "cross_entropy"


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return mean_std(values)[0] if values else None


def _mean_lists(lists) -> list[float]:
    """Element-wise mean of equally long lists (over seeds); [] when there are none."""
    lists = [v for v in lists if v]
    if not lists or len({len(v) for v in lists}) != 1:
        return []
    return [sum(col) / len(col) for col in zip(*lists)]


def last_epoch(metrics: list, loss: str, epoch: int) -> dict:
    """Mean over seeds of a loss's records at ``epoch`` (status ok): the health fields and the
    scores a stall note quotes."""
    rows = [r for r in metrics if r.loss == loss and r.epoch == epoch and r.status == "ok"]
    out = {key: _mean(getattr(r, key) for r in rows)
           for key in ("train_loss", "train_acc", "test_acc", "logit_grad_norm", "ce_logit_grad_norm")}
    for key in ("grad_norm", "dead_fraction", "saturated_fraction"):
        out[key] = _mean_lists(getattr(r, key) for r in rows)
    return out


def health_curves(metrics: list, config) -> dict[str, dict]:
    """Per loss, the gradient health its records hold (means over seeds; losses without it are
    left out): "grad_norm" at the last epoch per layer (input layer first), "dead_fraction" and
    "saturated_fraction" there per hidden layer, and over the epochs "epochs" with
    "first_to_last" = grad_norm[0] / grad_norm[-1] (how much smaller the input layer's
    gradient is than the output layer's; 1 for a single layer)."""
    out = {}
    for name in config.losses:
        epochs = sorted({r.epoch for r in metrics if r.loss == name and r.status == "ok" and r.grad_norm})
        if not epochs:
            continue
        per_epoch = [last_epoch(metrics, name, e)["grad_norm"] for e in epochs]
        now = last_epoch(metrics, name, epochs[-1])
        kept = [(e, g[0] / g[-1]) for e, g in zip(epochs, per_epoch) if g and g[-1] > 0]
        out[name] = {"grad_norm": now["grad_norm"], "dead_fraction": now["dead_fraction"],
                     "saturated_fraction": now["saturated_fraction"], "epoch": epochs[-1],
                     "epochs": [e for e, _ in kept], "first_to_last": [r for _, r in kept]}
    return out


def relative_change(metrics: list, loss: str, last: int) -> float | None:
    """(train loss at epoch 1 - at epoch ``last``) / |train loss at epoch 1|, means over seeds;
    None when either is missing or the first is 0."""
    first = _mean(r.train_loss for r in metrics if r.loss == loss and r.epoch == 1 and r.status == "ok")
    end = _mean(r.train_loss for r in metrics if r.loss == loss and r.epoch == last and r.status == "ok")
    if first is None or end is None or first == 0:
        return None
    return (first - end) / abs(first)


def causes(now: dict, reference: dict | None, *, on_probs: bool) -> list[dict]:
    """What the records measure that keeps a loss from learning, each {"kind", numbers...,
    "text"}. ``now``: the loss's ``last_epoch``; ``reference``: cross-entropy's, if compared."""
    found = []
    lg, ce = now.get("logit_grad_norm"), now.get("ce_logit_grad_norm")
    if lg is not None and ce:
        ratio = lg / ce
        if ratio < SMALL_LOGIT_GRADIENT:
            why = (" (on softmax outputs its gradient is multiplied by the softmax Jacobian, whose entries "
                   "p_i(delta_ij - p_j) are at most p(1 - p) <= 1/4)") if on_probs else ""
            found.append({"kind": "small_logit_gradient", "ratio": ratio, "logit_grad_norm": lg, "ce_logit_grad_norm": ce,
                          "text": f"its gradient at the logits is {ratio:.2g} x cross-entropy's at the same outputs "
                                  f"(mean norm {lg:.3g} vs {ce:.3g} on the last batch){why}"})
    norms = now.get("grad_norm") or []
    ref_norms = (reference or {}).get("grad_norm") or []
    if norms and len(ref_norms) == len(norms) and ref_norms[0] > 0:
        ratio = norms[0] / ref_norms[0]
        if ratio < SMALL_LOGIT_GRADIENT:
            found.append({"kind": "small_weight_gradient", "ratio": ratio, "grad_norm": norms[0], "reference": ref_norms[0],
                          "text": f"its first-layer weight gradient is {norms[0]:.2g}, {ratio:.2g} x cross-entropy's ({ref_norms[0]:.2g})"})
    if len(norms) > 1 and norms[-1] > 0 and norms[0] / norms[-1] < VANISHING:
        found.append({"kind": "vanishing_gradient", "ratio": norms[0] / norms[-1],
                      "text": f"vanishing gradient: layer 1's weight gradient is {norms[0] / norms[-1]:.2g} x the last layer's "
                              f"({norms[0]:.2g} vs {norms[-1]:.2g})"})
    dead = now.get("dead_fraction") or []
    for j, share in enumerate(dead, start=1):
        if share >= MOSTLY:
            found.append({"kind": "dead_layer", "layer": j, "share": share,
                          "text": f"hidden layer {j}: {share:.0%} of its units dead (f' = 0 on every example of the last batch)"})
    for j, share in enumerate(now.get("saturated_fraction") or [], start=1):
        if share >= MOSTLY and (j > len(dead) or dead[j - 1] < MOSTLY):
            found.append({"kind": "saturated_layer", "layer": j, "share": share,
                          "text": f"hidden layer {j}: {share:.0%} of its units saturated (mean |f'| < 0.01 on the last batch)"})
    return found


def stall_notes(metrics: list, config) -> dict[str, dict]:
    """{loss: note} for each compared loss whose train loss stalled (``STALL_CHANGE``), with the
    causes measured at the last recorded epoch (``causes``) and a sentence saying so. A run of
    one epoch has no change to measure: no notes."""
    epochs = [r.epoch for r in metrics if r.status == "ok"]
    if not epochs or max(epochs) < 2:
        return {}
    last = max(epochs)
    ref_change = relative_change(metrics, REFERENCE, last) if REFERENCE in config.losses else None
    reference = last_epoch(metrics, REFERENCE, last) if ref_change is not None else None
    on_probs = config.regression_target == "probs"
    notes = {}
    for name in config.losses:
        change = relative_change(metrics, name, last)
        if change is None or abs(change) >= STALL_CHANGE:
            continue
        if (ref_change is not None and name != REFERENCE and abs(ref_change) >= STALL_CHANGE
                and abs(change) >= STALL_VS_CE * abs(ref_change)):
            continue
        now = last_epoch(metrics, name, last)
        regression = name in _regression_losses()
        found = causes(now, reference if name != REFERENCE else None, on_probs=on_probs and regression)
        moved = f"its train loss {_moved(change)} from epoch 1 to epoch {last} (to {now['train_loss']:.4g}"
        moved += f", train accuracy {now['train_acc']:.3f})" if now.get("train_acc") is not None else ")"
        if ref_change is not None and name != REFERENCE:
            moved += f"; cross-entropy's {_moved(ref_change)}"
        text = f"{name} stalled: {moved}. " + ("Measured: " + "; ".join(c["text"] for c in found) + "." if found else
                                              "No cause measured: its gradients are not small and no layer is dead or saturated.")
        notes[name] = {"relative_change": change, "reference_change": ref_change, "epoch": last,
                       "causes": [{k: v for k, v in c.items() if k != "text"} | {"text": c["text"]} for c in found],
                       "text": text}
    return notes


def _moved(change: float) -> str:
    """A relative decrease in words: "fell by 47 %", "rose by 0.01 %"."""
    return f"{'fell' if change >= 0 else 'rose'} by {abs(change) * 100:.2g} %"


def _regression_losses() -> set[str]:
    """The registry's regression losses (loaded here, on first need: the registry loads torch)."""
    from lossviz.registry import get_loss, losses

    return {n for n in losses() if get_loss(n).kind == "regression"}
