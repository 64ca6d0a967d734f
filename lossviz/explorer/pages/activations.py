"""Activations page: values and derivatives; where gradients vanish."""

from __future__ import annotations

from dash import dcc

from lossviz import curves, plot_mpl
from lossviz.explorer import controls, figures, state
from lossviz.explorer.pages.losses import check_range, checks, label, tex_label
from lossviz.plot_plotly import vanishing_intervals
from lossviz.presentation import slider
from lossviz.registry import activations, get_activation
from lossviz.style import color_of, dash_of

PAGE, PATH, TITLE = "activations", "/activations", "Activations"
KEYS = ("value", "grad")
TITLES = ["activation", "derivative"]
YTITLES = [r"$f(x)$", r"$f'(x)$"]
VANISH = 0.01
LANE = 0.05  # height of one activation's vanishing-gradient band, in panel heights


def names() -> list[str]:
    return [n for n in activations() if get_activation(n).kind == "elementwise"]


def params():
    return [(n, p) for n in names() for p in get_activation(n).params]


def schema() -> list:
    default = tuple(n for n in ("relu", "sigmoid", "tanh") if n in names()) or tuple(names()[:3])
    fields = [state.Names("activations", "activations", tuple(names()), default),
              state.Number("xmin", "x from", -20, 20, 0.5, -6.0), state.Number("xmax", "x to", -20, 20, 0.5, 6.0)]
    for n, p in params():
        lo, hi, step = slider(n, p.name)
        fields.append(state.Number(f"{n}.{p.name}", f"{n} {p.name}", lo, hi, controls.hand_step(lo, hi, step), p.default))
    return fields + [state.Flag("vanish", f"shade where |f′| < {VANISH}"),
                     state.Flag("check", "check the derivative (autograd's dashed, differences shaded)"), state.Flag("present", "presentation")]


def act_params(values: dict, name: str) -> dict:
    return {p.name: float(values[f"{name}.{p.name}"]) for p in get_activation(name).params}


def compute_curves(values: dict, x=None) -> list[curves.Curve]:
    x = figures.fine_grid(float(values["xmin"]), float(values["xmax"])) if x is None else x
    return [curves.activation_curve(n, act_params(values, n), x=x) for n in values["activations"]]


def vanish_shapes(cs: list[curves.Curve]) -> list[dict]:
    """Where |f'| < VANISH, one band per activation in its colour along the foot of the
    derivative panel, each in its own lane (overlapping shades of five activations blend into
    grey); each activation's band is in the legend."""
    shapes = []
    for i, c in enumerate(cs):
        for k, (lo, hi) in enumerate(vanishing_intervals(c.x, c.series["grad"], VANISH)):
            shapes.append({"type": "rect", "xref": "x2", "yref": "y2 domain", "x0": lo, "x1": hi, "y0": i * LANE, "y1": (i + 1) * LANE - 0.01,
                           "fillcolor": color_of(c.name), "opacity": 0.85, "line": {"width": 0}, "layer": "above",
                           "name": rf"$|f'| < {VANISH:g}\text{{: {c.name}}}$", "legendgroup": f"{c.name}-vanish", "showlegend": k == 0})
    return shapes


def formula_blocks(chosen: list[str]) -> list:
    """Each chosen activation's formula and derivative, typeset by MathJax in the browser."""
    return [dcc.Markdown(f"**{get_activation(n).title}**: $${get_activation(n).formula.value}$$ derivative: "
                         f"$${get_activation(n).formula.grad}$$", mathjax=True, className="formula") for n in chosen]


def compute(values: dict, notes: list):
    check_range(values, values.get("_prev"), notes)
    if not values["activations"]:
        notes.append("choose at least one activation")
    cs = compute_curves(values)
    present, narrow = bool(values["present"]), bool(values.get("_narrow"))
    width = figures.look(present)["width"]
    note = figures.coincide_line([[c.series[k] for c in cs] for k in KEYS], [label(c.name, c.params) for c in cs])
    traces = []
    for c in cs:
        idx = figures.keep_points([c.series[k] for k in KEYS])
        for j, key in enumerate(KEYS):
            traces.append(figures.line(c.x[idx], c.series[key][idx], name=tex_label(c.name, c.params), hover=label(c.name, c.params),
                                       color=color_of(c.name), panel=j,
                                       group=c.name, legend=j == 0, meta=[c.name, key], width=width, dash=dash_of(c.name)))
    layout = figures.panels_layout(TITLES, "$x$", present=present, narrow=narrow, ytitles=YTITLES)
    layout["shapes"] = vanish_shapes(cs) if values["vanish"] else []
    autos = []
    if values.get("check") and cs:  # autograd's derivative over each activation's own, the differences shaded
        extra, shaded, found, autos = checks([(c.name, c.params, c.x, 0.0) for c in cs], width, len(traces), panel=1)
        traces += [extra[i] for i in sorted(extra)]
        layout["shapes"] = shaded + layout["shapes"]
        notes.extend(found)
    figures.set_y_ranges(layout, [figures.y_range([c.series[k] for c in cs] + (autos if k == "grad" else [])) for k in KEYS])
    if not cs:
        layout["annotations"].append({"text": "choose at least one activation", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                      "showarrow": False, "font": {"size": 20}})
    return {"data": traces, "layout": layout}, note, formula_blocks(values["activations"])


def frames(values: dict, key: str, steps: list[float]) -> list[dict]:
    """The graph at each step of slider ``key``: the traces that change, the y ranges, the bands."""
    check_range(values, None, [])
    names = list(values["activations"])
    gid = f"{PAGE}-graph"
    out = []
    spans = []  # each step's x range (x-range sliders)
    if key in ("xmin", "xmax"):
        per_step = []
        for v in steps:
            lo, hi = (v, float(values["xmax"])) if key == "xmin" else (float(values["xmin"]), v)
            if hi - lo < 0.5:
                lo, hi = (lo, lo + 0.5) if key == "xmin" else (hi - 0.5, hi)
            per_step.append(compute_curves(values, figures.fine_grid(lo, hi, figures.SWEEP_POINTS)))
            spans.append((lo, hi))
    else:
        name, param = key.split(".", 1)
        if name not in names:
            return [{} for _ in steps]
        x = figures.fine_grid(float(values["xmin"]), float(values["xmax"]))
        base = compute_curves(values, x)
        ci = names.index(name)
        sw = curves.sweep(name, param, steps, params=act_params(values, name), x=x)
        per_step = []
        for s in range(len(steps)):
            cs = list(base)
            cs[ci] = curves.Curve(name, {**sw.params, param: float(steps[s])}, sw.x.astype(float), {k: sw.series[k][s].astype(float) for k in KEYS},
                                  base[ci].xlabel)
            per_step.append(cs)
    memo: dict = {}
    for s, cs in enumerate(per_step):
        tr = {}
        for ci, c in enumerate(cs):
            if key not in ("xmin", "xmax") and c.name != key.split(".")[0]:
                continue
            idx = figures.keep_points([c.series[k] for k in KEYS]) if key in ("xmin", "xmax") else slice(None)
            for j, k in enumerate(KEYS):
                tr[2 * ci + j] = {"x": figures.b64(c.x[idx]), "y": figures.b64(c.series[k][idx])}
        autos, shaded = [], []
        if values.get("check") and cs:  # autograd's derivative of the activations that move, all the shading
            width = figures.look(bool(values["present"]))["width"]
            for ci, c in enumerate(cs):
                k = (c.name, tuple(sorted(c.params.items())), id(c.x))  # the ones that stay: checked once
                if k not in memo:
                    memo[k] = (c.x, checks([(c.name, c.params, c.x, 0.0)], width, 0, panel=1))
                one_tr, one_shapes, _, one_auto = memo[k][1]
                shaded += one_shapes
                autos += one_auto
                if key in ("xmin", "xmax") or c.name == key.split(".")[0]:
                    tr[2 * len(cs) + ci] = {"x": one_tr[0]["x"], "y": one_tr[0]["y"]}
        lay = {("yaxis" if j == 0 else f"yaxis{j + 1}") + ".range": figures.y_range([c.series[k] for c in cs] + (autos if k == "grad" else []))
               for j, k in enumerate(KEYS)}
        if spans:
            lay.update(figures.x_ranges(*spans[s], len(KEYS)))
        if values["vanish"] or shaded:
            lay["shapes"] = shaded + (vanish_shapes(cs) if values["vanish"] else [])
        out.append({gid: {"traces": tr, "layout": lay}})
    return out


def layout(query: dict):
    descriptions = {f"{n}.{p.name}": p.description for n, p in params()}
    return controls.curve_page(PAGE, "Activations and their derivatives", query, schema(), compute, descriptions)


def export_file(n_clicks, fmt, st):
    def draw(values):
        cs = [curves.activation_curve(n, act_params(values, n), x_range=(values["xmin"], values["xmax"])) for n in values["activations"]]
        return plot_mpl.activation_grid_figure(cs)

    return controls.export_shown(PAGE, schema(), n_clicks, fmt, st, draw, required=("activations", "activation"))


def register(app):
    controls.wire_curve_page(app, PAGE, schema(), compute, frames, preview=("xmin", "xmax"))
    controls.wire_export(app, PAGE, export_file)
