"""A view written by ``write_html`` in a real headless Chromium with the network blocked: its
plotly slider redraws the curve with the library's sweep step."""

from __future__ import annotations

import time

import numpy as np

import lossviz
from tests.browser.conftest import ARTIFACTS


def test_written_view_slider_redraws_offline(browser, tmp_path):
    v = lossviz.view("losses", losses=["huber"], **{"huber.delta": 0.5})
    path = v.write_html(tmp_path / "huber.html")
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    requested: list[str] = []

    def block(route):  # the network is off: anything but the file itself is refused
        requested.append(route.request.url)
        return route.continue_() if route.request.url.startswith("file://") else route.abort()

    ctx.route("**/*", block)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto(path.as_uri())
        pg.wait_for_selector(".slider-rail-rect", timeout=20_000)
        read = "() => { const gd = document.querySelector('.plotly-graph-div');" \
               " return [gd.layout.sliders[0].active, Array.from(gd.data[0].y)]; }"
        active0, y0 = pg.evaluate(read)
        values = v.sliders["huber.delta"]
        assert values[active0] == 0.5
        # click the rail near its right end: plotly moves the slider to the nearest step and restyles
        rail = pg.locator(".slider-rail-rect").first.bounding_box()
        pg.mouse.click(rail["x"] + rail["width"] * 0.9, rail["y"] + rail["height"] / 2)
        pg.wait_for_function("() => document.querySelector('.plotly-graph-div').layout.sliders[0].active > 40", timeout=10_000)
        # plotly sets the slider's step, then restyles the traces: wait until the drawn curve is
        # the active step's (the slider passes no intermediate step to the data)
        steps = v.figure["layout"]["sliders"][0]["steps"]
        deadline = time.monotonic() + 10
        while True:
            active1, y1 = pg.evaluate(read)
            expected = np.array(steps[active1]["args"][0]["y"][0], dtype=np.float32)
            if np.array_equal(np.array(y1, dtype=np.float32), expected) or time.monotonic() > deadline:
                break
            pg.wait_for_timeout(50)
        assert values[active1] > 3.5
        assert np.array_equal(np.array(y1, dtype=np.float32), expected) and not np.array_equal(np.array(y0, dtype=np.float32), expected)
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "view_huber_slider.png"))
        assert errors == []
        assert [u for u in requested if not u.startswith("file://")] == []
    finally:
        ctx.close()
