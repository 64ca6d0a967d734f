"""A class on ``lossviz serve``: simulated students against issue 27's targets.

Each student is a thread with its own keep-alive HTTP session, sending the requests a real
browser sends, captured once in headless Chromium (Playwright) before the clock starts:

- a page load: the page's GET, Dash's ``_dash-layout`` and ``_dash-dependencies``, and the
  callback POSTs the page makes as it draws (scripts and styles are left out: a browser has them
  cached after its first visit);
- a slider grab on the Losses page: the POSTs of a grab and its release (the sweep fetched
  before the grab, the settle after it);
- the Playground playing: its tick POSTs, one every ~100 ms for a few seconds.

A student picks one of the three, then thinks for 0.5-2 s. It prints requests per second, p50 and
p95 latency, errors, and the server's memory (RSS of gunicorn's master and workers, from /proc)
at the start and end.

    python bench/bench_classroom.py                  # 40 students, 120 s, its own `lossviz serve --workers 2`
    python bench/bench_classroom.py --seconds 20     # a quick check
    python bench/bench_classroom.py --url http://127.0.0.1:8050 --pid PID   # a server already running

Numbers depend on the machine and its load (a shared 2-core machine is noisy): the load
average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests

from tests.browser.conftest import CHROMIUM_ARGS, _chromium  # noqa: E402
from tests.procs import children_of, free_port  # noqa: E402

TARGETS = {"students": 40, "errors": 0, "p95_ms": 250.0, "growth_mb": 50.0}
PAGES = ("/losses", "/activations", "/classification", "/softmax", "/playground?mode=regression")


def capture(base: str) -> dict:
    """The requests a browser makes: {"loads": {page: [req]}, "grab": [req], "ticks": [req]};
    a request is {"method", "path", "body"}."""
    from playwright.sync_api import sync_playwright

    seen: list[dict] = []

    def on_request(req):
        path = req.url[len(base):]
        if req.resource_type in ("document", "fetch", "xhr") and (req.method == "POST" or not path.startswith(
                ("/_dash-component-suites", "/assets", "/plotly-bundle", "/_favicon"))):
            seen.append({"method": req.method, "path": path, "body": req.post_data})

    def settle(page, ms=1500):
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(ms)

    out = {"loads": {}, "grab": [], "ticks": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.on("request", on_request)
        for path in PAGES:
            seen.clear()
            page.goto(base + path)
            page.wait_for_selector(".js-plotly-plot")
            settle(page)
            out["loads"][path] = list(seen)
        page.goto(base + "/losses")
        page.wait_for_selector(".js-plotly-plot")
        settle(page)
        seen.clear()
        handle = page.locator("#losses-y [role=slider]").first
        handle.hover()
        handle.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(150)
        settle(page)
        out["grab"] = [r for r in seen if r["method"] == "POST"]
        page.goto(base + PAGES[-1])
        page.wait_for_selector(".js-plotly-plot")
        settle(page)
        seen.clear()
        page.click("#playground-r-play")
        page.wait_for_timeout(4000)
        page.click("#playground-r-pause")
        out["ticks"] = [r for r in seen if r["method"] == "POST" and "playground-r-tick" in (r["body"] or "")]
        browser.close()
    if not out["grab"] or not out["ticks"]:
        raise RuntimeError(f"capture incomplete: {len(out['grab'])} grab and {len(out['ticks'])} tick requests")
    return out


def server_pids(master: int) -> list[int]:
    """gunicorn's master and its workers (its children)."""
    return [master, *sorted(children_of(master))]


def rss_mb(master: int) -> tuple[float, float]:
    """(RSS, PSS) in MB of master + workers; RSS counts the pages the forked workers share with the
    master once per process, PSS splits them (the memory actually used)."""
    rss = pss = 0
    for pid in server_pids(master):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss / 1024, pss / 1024


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.errors: list[str] = []

    def add(self, ms: float, error: str | None):
        with self.lock:
            self.times.append(ms)
            if error:
                self.errors.append(error)


def send(session: requests.Session, base: str, req: dict, tally: Tally) -> None:
    t = time.perf_counter()
    error = None
    try:
        if req["method"] == "POST":
            r = session.post(base + req["path"], data=req["body"], headers={"Content-Type": "application/json"}, timeout=30)
        else:
            r = session.get(base + req["path"], timeout=30)
        if r.status_code >= 400:
            error = f"{r.status_code} {req['method']} {req['path'][:60]}"
    except requests.RequestException as e:
        error = f"{type(e).__name__} {req['method']} {req['path'][:60]}"
    tally.add((time.perf_counter() - t) * 1000, error)


def student(base: str, script: dict, stop: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    loads = list(script["loads"].values())
    time.sleep(rng.uniform(0, 2))  # the class does not all arrive in the same millisecond
    while time.monotonic() < stop:
        action = rng.choices(("load", "grab", "play"), weights=(2, 4, 4))[0]
        if action == "load":
            for req in rng.choice(loads):
                send(session, base, req, tally)
        elif action == "grab":
            for req in script["grab"]:
                send(session, base, req, tally)
        else:
            for req in script["ticks"][:rng.randint(10, 30)]:
                t = time.monotonic()
                send(session, base, req, tally)
                time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))  # the page's tick interval
                if time.monotonic() >= stop:
                    break
        time.sleep(rng.uniform(0.5, 2.0))


def start_server(workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    runs = tempfile.mkdtemp(prefix="classroom-runs-")
    proc = subprocess.Popen([sys.executable, "-m", "lossviz.cli", "serve", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                             "--runs", runs], stdout=subprocess.DEVNULL, stderr=sys.stderr)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/_dash-layout", timeout=5).ok:
                return proc, base
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the server did not start within 120 s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=TARGETS["students"], help="simulated students (default: 40)")
    ap.add_argument("--seconds", type=float, default=120, help="how long they work (default: 120; 20 for a quick check)")
    ap.add_argument("--workers", type=int, default=2, help="workers of the server this bench starts (default: 2)")
    ap.add_argument("--url", help="a server already running (default: start `lossviz serve`)")
    ap.add_argument("--pid", type=int, help="with --url: its gunicorn master's pid, for the memory figures")
    ap.add_argument("--script", help="captured requests (JSON) to use instead of capturing them again")
    args = ap.parse_args(argv)

    proc = None
    if args.url:
        base, master = args.url.rstrip("/"), args.pid
    else:
        proc, base = start_server(args.workers)
        master = proc.pid
    try:
        if args.script:
            script = json.loads(Path(args.script).read_text())
        else:
            t = time.perf_counter()
            script = capture(base)
            print(f"captured in Chromium ({time.perf_counter() - t:.0f} s): page loads "
                  + ", ".join(f"{p} {len(r)}" for p, r in script["loads"].items())
                  + f"; a grab {len(script['grab'])} POSTs; {len(script['ticks'])} ticks")
        rss0 = rss_mb(master) if master else None
        tally = Tally()
        stop = time.monotonic() + args.seconds
        threads = [threading.Thread(target=student, args=(base, script, stop, tally, i), daemon=True) for i in range(args.students)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - t0
        rss1 = rss_mb(master) if master else None
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    times = sorted(tally.times)
    p50 = statistics.median(times) if times else float("nan")
    p95 = times[int(0.95 * (len(times) - 1))] if times else float("nan")
    load = os.getloadavg()
    print(f"{args.students} students, {args.seconds:.0f} s, {args.workers if not args.url else '?'} workers, "
          f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (at the end)")
    print(f"requests: {len(times)} ({len(times) / elapsed:.1f}/s)  p50 {p50:.0f} ms  p95 {p95:.0f} ms  errors {len(tally.errors)}")
    if tally.errors:
        print("  first errors: " + "; ".join(tally.errors[:5]))
    if rss0 is not None:
        print(f"server memory (RSS, master + workers): {rss0[0]:.0f} MB at the start, {rss1[0]:.0f} MB at the end "
              f"(growth {rss1[0] - rss0[0]:+.0f} MB); PSS {rss0[1]:.0f} -> {rss1[1]:.0f} MB")
    ok = (len(tally.errors) <= TARGETS["errors"] and p95 <= TARGETS["p95_ms"]
          and (rss0 is None or rss1[0] - rss0[0] <= TARGETS["growth_mb"]))
    print(f"targets (40 students, 0 errors, p95 <= {TARGETS['p95_ms']:.0f} ms, growth <= {TARGETS['growth_mb']:.0f} MB): "
          f"{'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
