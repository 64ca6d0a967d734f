"""``lossviz list``: every registered loss, activation and model, with parameters and formulas."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="print every loss and activation with parameters and formulas")
    p.set_defaults(func=cmd_list)


def _describe(spec) -> list[str]:
    lines = [f"  {spec.name:<15} {spec.title}: {spec.summary}"]
    for p in spec.params:
        lines.append(f"      --param {spec.name}.{p.name}=X   {p.description} (default: {p.default:g}, range: {p.range_text})")
    lines.append(f"      value: {spec.formula.value}")
    lines.append(f"      grad:  {spec.formula.grad}")
    return lines


def cmd_list(args: argparse.Namespace) -> int:
    from lossviz.registry import activations, get_activation, get_loss, losses
    from lossviz.train.models import get_model, model_names

    out = ["Losses:"]
    for name in losses():
        out += _describe(get_loss(name))
    out += ["", "Activations:"]
    for name in activations():
        out += _describe(get_activation(name))
    out += ["", "Models (lossviz compare --model NAME):"]
    for name in model_names():
        spec = get_model(name)
        layers = f"; hidden layers: --hidden (default: {','.join(map(str, spec.hidden))}), --activation" if spec.hidden else ""
        out.append(f"  {spec.name:<15} {spec.title}: {spec.summary}{layers}")
    print("\n".join(out))
    return 0
