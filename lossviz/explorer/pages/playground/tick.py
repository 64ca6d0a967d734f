"""The server side of a Playground tick: validate the tab's values, points and state, advance
the models ``speed`` steps (``lossviz.toy``), answer with the new state and the pictures."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import html

from lossviz import toy
from lossviz.explorer import controls, state
from lossviz.explorer.pages.playground import figures as pf
from lossviz.explorer.pages.playground.schema import (PAGE, PATH, PRESET_KEYS, SPIRAL_LEARNS, apply_click, check_points, class_setup,
                                                      points_query, preset_points, reg_setup, schema, training_key)

GRID = 60  # decision map cells per side
CURVE_EVERY = 5  # while playing, the loss and accuracy curves gain a point every this many frames


def grad_norms(setup: toy.ToySetup, st: toy.ToyState) -> dict:
    """Each loss's weight-gradient norm per layer (input layer first) on the whole training set,
    from the same closed-form backward the toy trains with (``lossviz.train.health.batch_health``):
    {"norms": (M, L) float array, "dead" / "saturated": (M, L - 1)} (d2l 4.8, issue 26)."""
    import torch

    from lossviz import train
    from lossviz.train import health, models

    with torch.inference_mode():
        model, c, d = setup.model(st), setup.config, setup.data
        out, cache = models.forward(model, d.x_train)
        onehot = train.one_hot(d.y_train, out, 2)
        h = health.batch_health(model, cache, train.logit_grads(c, out, onehot), out, onehot)
    return {"norms": h.grad_norm.numpy(), "dead": h.dead_fraction.numpy(), "saturated": h.saturated_fraction.numpy()}


def restore(setup: toy.ToySetup, raw, notes: list[str]) -> toy.ToyState:
    """The tab's state, or a fresh one (with a note saying why) when it cannot be used."""
    fresh = setup.new_state()
    if raw is None:
        return fresh
    try:
        return toy.ToyState.from_dict(raw, fresh)
    except ValueError as e:
        notes.append(f"this tab's training state could not be used ({str(e)[:120]}); started again from step 0")
        return fresh


def spiral_hint(values: dict, hide_keys: list[str]):
    """On the spiral, settings that learn it (a link that sets them), unless they are set."""
    if values.get("dataset") != "spiral":
        return None
    if all(values.get(k) == v for k, v in SPIRAL_LEARNS.items()):
        return html.Span("These settings learn the spiral: press Play; test accuracy passes 0.8 after about 3,000 steps.",
                         className="hint")
    query = {**{f.key: values[f.key] for f in schema("classification")}, **SPIRAL_LEARNS}
    href = PATH + state.query_of(schema("classification"), query, hide_keys)
    return html.Span(["The spiral does not learn with a small net: it needs depth and many steps. ",
                      html.A("Try 3 hidden layers × 16 tanh units, learning rate 0.1, batch 10, 20 steps per frame",
                             href=href, id=f"{PAGE}-c-spiral-link"),
                      " (test accuracy 0.8–0.87 after 3,000 steps)."], className="hint")


def tick(mode: str, trigger: str | None, raw_values: dict, store, click, hide, narrow, points=None) -> tuple:
    """(store, main figure or Patch, side figure or Patch (regression: whether the main graph
    animates this answer), message, URL ({"search", "push"}), readout, then regression: the
    preset slider values; classification: the points overlay, the gradient-norm bars and the hint).

    ``trigger``: "tick" / "step" (advance), "reset", "click" (regression), or a control key;
    ``points``: the regression points a link asked for (``schema.points_from_query``), on load.
    Never raises: a bug becomes a message and the tab starts again."""
    sch = schema(mode)
    store = store if isinstance(store, dict) else {}
    previous = store.get("values") if isinstance(store.get("values"), dict) else None
    values, notes, _ = state.from_request(sch, raw_values, previous)
    values["mode"] = mode
    narrow = narrow is True
    present = bool(values["present"])
    sliders = (dash.no_update,) * len(PRESET_KEYS)
    if mode == "regression" and trigger == "preset":
        sliders = toy.REGRESSION_PRESETS[values["preset"]]
        values.update(zip(PRESET_KEYS, sliders))
    key = repr(training_key({k: v for k, v in values.items() if k != "preset"}))
    same = store.get("key") == key
    look = [present, narrow]
    redraw = not same or store.get("look") != look or trigger in ("reset", "click") or trigger not in ("tick", "step")
    steps = int(values["speed"]) if trigger in ("tick", "step") else 0
    canonical = {f.key: values[f.key] for f in sch}
    hide_keys = [h for h in (hide or []) if isinstance(h, str)][: state.MAX_LIST] if isinstance(hide, list) else []
    search = state.query_of(sch, canonical, hide_keys)
    hint = spiral_hint(values, hide_keys) if mode == "classification" else None
    if not values["losses"]:  # nothing to train: an empty picture that says so
        notes.append("choose at least one loss")
        empty = {"data": [], "layout": {"template": "plotly_white", "height": 300, "annotations": [
            {"text": "choose at least one loss", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False,
             "font": {"size": 20}}], "xaxis": {"visible": False}, "yaxis": {"visible": False}}}
        new_store = {"key": None, "look": look, "values": canonical, "state": None, "points": None, "search": search}
        return (new_store, empty, empty if mode == "classification" else False, controls.message(notes),
                url_of(search, store), pf.readout(0, mode), *(sliders if mode == "regression" else (empty, empty, hint)))

    given = points
    if mode == "regression":
        points = None
        if same and trigger != "reset" and store.get("points") is not None:
            try:
                points = check_points(store.get("points"))
            except ValueError as e:
                notes.append(f"this tab's points could not be used ({e}); back to the preset's points")
        if points is None and trigger == "load" and isinstance(given, dict):
            points = given
        points = points or preset_points(values)
        if trigger == "click":
            points = apply_click(points, click, notes, len(values["losses"]))
        edits = points_query(points)
        if edits:  # the clicks are in the URL too (bounded by MAX_POINTS, checked when a link is opened)
            search += ("&" if search != "?" else "") + urlencode(edits, safe=",:")
        setup = reg_setup(values, points)
    else:
        points = None
        setup = class_setup(values)
    st = restore(setup, store.get("state"), notes) if same and trigger != "reset" else setup.new_state()
    if notes and any("started again" in n for n in notes):
        redraw = True
    if steps:
        st = toy.advance(setup, st, steps)
    if mode == "regression":
        frame = toy.regression_frame(setup, st)
        main = (pf.regression_figure(frame, points, present=present, narrow=narrow, shape=values["shape"], outlier_size=values["size"])
                if redraw else pf.regression_patch(frame, store, values["shape"], narrow))
        # A frame moves the fits and pulls with plotly's animation (no transition): no recalc, no
        # redraw of axes, legend and markers; a new figure is drawn whole.
        side = not redraw
    else:
        # The curves and the titles' test accuracy follow every CURVE_EVERY frames (each redraw of
        # the curves costs the browser time, the metrics the server); the maps every frame.
        metrics = redraw or (st.step // max(1, steps)) % CURVE_EVERY == 0
        frame = toy.classification_frame(setup, st, GRID, metrics=metrics)
        main = pf.maps_figure(frame, present=present, narrow=narrow) if redraw else pf.maps_patch(frame, store)
        side = pf.curves_figure(frame, present=present, narrow=narrow) if redraw else (pf.curves_patch(frame) if metrics else dash.no_update)
        # Each loss's gradient norms per layer follow with the curves (a few numbers per frame).
        grads = grad_norms(setup, st) if metrics else None
        grads_out = (pf.grads_figure(frame["losses"], grads, st.step, present=present, narrow=narrow) if redraw
                     else pf.grads_patch(grads, st.step) if grads is not None else dash.no_update)
        sliders = (pf.points_figure(frame, setup.data, present=present, narrow=narrow) if redraw else dash.no_update,
                   grads_out, hint if redraw else dash.no_update)
    new_store = {"key": key, "look": look, "values": canonical, "state": st.to_dict(compact=True), "points": points, "noted": bool(notes),
                 "search": search}
    if mode == "regression":
        new_store["pull_range"] = pf.pull_range(frame, None if redraw else store.get("pull_range"))
        new_store["errors"] = pf.errors_text(frame, values["shape"], narrow)
    elif "test_acc" in frame:
        new_store["titles"] = pf.map_titles(frame)
    else:
        new_store["titles"] = store.get("titles")
    msg = controls.message(notes)
    url = url_of(search, store)
    if not redraw:  # a frame while playing: the URL and an empty message stay as they are (fewer updates to apply)
        url = dash.no_update
        if not notes and not store.get("noted"):
            msg = dash.no_update
    return new_store, main, side, msg, url, pf.readout(st.step, mode), *sliders


def url_of(search: str, store: dict) -> dict:
    """The URL to write: a new history entry when the view changed (a setting, a point added or
    removed), in place otherwise (the first answer, a reset, a frame)."""
    shown = store.get("search") if isinstance(store, dict) else None
    return {"search": search, "push": isinstance(shown, str) and shown != search}
