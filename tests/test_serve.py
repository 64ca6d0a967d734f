"""`lossviz serve`: the explorer under gunicorn, two workers, as a class uses it.

Plain HTTP against a real server: every page's content (Dash Pages' routing callback, not the
index page, which is the same for every path), a sweep and a settle on each worker alone (the
other one stopped with SIGSTOP), a worker killed with SIGKILL and no failed request after it,
training refused without --allow-training, and queued with its place shown with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.idx import write_fake_fashion_mnist
from tests.procs import children_of, free_port

pytest.importorskip("gunicorn")

ROOT = Path(__file__).resolve().parents[1]
START_S = 180  # a busy 2-core machine: torch and Dash import in the master before it listens


class Served:
    def __init__(self, tmp: Path, *extra: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.runs = tmp / "runs"
        self.proc = subprocess.Popen([sys.executable, "-m", "lossviz.cli", "serve", "--workers", "2", "--bind", f"127.0.0.1:{self.port}",
                                      "--runs", str(self.runs), *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stdout.read()
            try:
                if requests.get(self.base + "/_dash-dependencies", timeout=5).ok and len(children_of(self.proc.pid)) == 2:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("lossviz serve did not answer in time")
        self.deps = requests.get(self.base + "/_dash-dependencies", timeout=30).json()

    def body(self, output_has: str, values: dict, changed: str) -> dict:
        """A callback request as the page sends it, built from the callback's definition in
        /_dash-dependencies: ``values`` by "id.property" (None where absent)."""
        dep = next(d for d in self.deps if output_has in d["output"] and changed in [f"{i['id']}.{i['property']}" for i in d["inputs"]])
        outs = [o.rsplit(".", 1) for o in (dep["output"].strip(".").split("...") if dep["output"].startswith("..") else [dep["output"]])]
        outputs = [{"id": i, "property": p.split("@")[0]} for i, p in outs]

        def item(x):
            return {"id": x["id"], "property": x["property"], "value": values.get(f"{x['id']}.{x['property']}")}

        return {"output": dep["output"], "outputs": outputs if dep["output"].startswith("..") else outputs[0],
                "inputs": [item(x) if isinstance(x["id"], str) else [] for x in dep["inputs"]],
                "state": [item(x) if isinstance(x["id"], str) else [] for x in dep["state"]], "changedPropIds": [changed]}

    def post(self, body: dict, session=None) -> dict:
        r = (session or requests).post(self.base + "/_dash-update-component", json=body, timeout=60)
        assert r.status_code == 200, (r.status_code, r.text[:300])
        return r.json()

    def page(self, path: str, session=None) -> str:
        """The page's content, as Dash Pages' routing callback answers it (as JSON text)."""
        body = self.body("_pages_content.children", {"_pages_location.pathname": path, "_pages_location.search": ""},
                         "_pages_location.pathname")
        return json.dumps(self.post(body, session))

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = Served(tmp_path_factory.mktemp("serve"))
    yield s
    s.close()


def sweep(s: Served) -> dict:
    return s.body("losses-sweep.data", {"losses-sweep-req.data": {"key": "huber.delta", "sig": "t"}, "losses-state.data": {"values": {}}},
                  "losses-sweep-req.data")


def settle(s: Served) -> dict:
    return s.body("losses-graph.figure", {"losses-losses.value": ["l2", "huber"], "losses-y.value": 0.5, "losses-huber-delta.value": 1.5},
                  "losses-huber-delta.value")


def test_help_is_fast():
    """--help is answered before torch, Dash or gunicorn is imported (they take seconds)."""
    code = ("import sys\nfrom lossviz.cli import main\ntry:\n    main(['serve', '--help'])\nexcept SystemExit as e:\n"
            "    print('exit', e.code)\nprint('heavy', sorted(m for m in ('torch', 'dash', 'gunicorn') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "--allow-training" in res.stdout and "--workers" in res.stdout and "--bind" in res.stdout
    assert "exit 0" in res.stdout and "heavy []" in res.stdout, res.stdout[-300:]


def test_every_page_is_served_with_its_content(served):
    for path, marker in (("/losses", "losses-graph"), ("/activations", "activations-graph"), ("/classification", "classification-"),
                         ("/softmax", "softmax-"), ("/playground", "playground-r-main"), ("/training", "training-start")):
        assert marker in served.page(path), path
    assert requests.get(served.base + "/losses", timeout=30).status_code == 200


def test_sweep_and_settle_on_either_worker(served):
    workers = sorted(children_of(served.proc.pid))
    assert len(workers) == 2
    for alone in workers:
        others = [w for w in workers if w != alone]
        for w in others:
            os.kill(w, signal.SIGSTOP)  # only `alone` accepts connections now
        try:
            for _ in range(3):
                with requests.Session() as fresh:
                    got = served.post(sweep(served), fresh)["response"]["losses-sweep"]["data"]
                    assert got["key"] == "huber.delta" and len(got["values"]) > 10
                    settled = json.dumps(served.post(settle(served), fresh))
                    assert "losses-graph" in settled and "huber" in settled
        finally:
            for w in others:
                os.kill(w, signal.SIGCONT)


def test_a_killed_worker_is_replaced_and_no_request_fails(served):
    before = children_of(served.proc.pid)
    victim = min(before)
    with requests.Session() as s:
        served.post(sweep(served), s)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        answered = 0
        while time.monotonic() < deadline and (answered < 20 or len(children_of(served.proc.pid) - {victim}) < 2):
            with requests.Session() as fresh:  # new connections: whichever worker accepts
                assert "losses-graph" in served.page("/losses", fresh)
                served.post(sweep(served), fresh)
            answered += 1
    after = children_of(served.proc.pid)
    assert victim not in after and len(after) == 2, (before, after)
    for _ in range(10):
        with requests.Session() as fresh:
            served.post(settle(served), fresh)


def start_form(visitor: str, epochs: int = 1) -> dict:
    return {"training-start.n_clicks": 1, "training-form-losses.value": ["cross_entropy"], "training-form-model.value": "softmax",
            "training-form-hidden.value": "", "training-form-activation.value": "relu", "training-form-epochs.value": epochs,
            "training-form-lr.value": 0.1, "training-form-batch.value": 1, "training-form-decay.value": 0, "training-form-seeds.value": 1,
            "training-form-seed.value": 0, "training-form-subset.value": None, "training-form-target.value": "probs",
            "training-visitor.data": visitor}


def start_job(s: Served, visitor: str, epochs: int = 1) -> str:
    return json.dumps(s.post(s.body("training-form-message.children", start_form(visitor, epochs), "training-start.n_clicks")))


def poll(s: Served, visitor: str) -> str:
    return json.dumps(s.post(s.body("training-job.children", {"training-poll.n_intervals": 1, "training-visitor.data": visitor},
                                    "training-poll.n_intervals")))


def test_training_is_refused_without_allow_training(served):
    answer = start_job(served, "visitor-aaaaaaaa")
    assert "not started" in answer and "--allow-training" in answer
    shown = poll(served, "visitor-aaaaaaaa")
    assert "training-off" in shown and "Training is off on this server" in shown
    assert not [p for p in served.runs.glob("softmax-*")]


def test_training_is_queued_with_its_place_shown(tmp_path):
    data = write_fake_fashion_mnist(tmp_path / "data", n_train=300, n_test=50)
    s = Served(tmp_path, "--allow-training", "--max-jobs", "2", "--data-root", str(data))
    try:
        first = start_job(s, "visitor-11111111", epochs=50)  # batch 1 x 300 images x 50 epochs: still running below
        assert "started softmax-" in first
        assert "one per visitor" in start_job(s, "visitor-11111111")
        second = start_job(s, "visitor-22222222")
        assert "queued: place 1" in second
        assert "queue is full" in start_job(s, "visitor-33333333")
        # Whichever worker answers the poll, it sees the queue (the state is in the runs folder).
        for _ in range(4):
            shown = poll(s, "visitor-22222222")
            assert "training-queue-place" in shown and "place 1 of 1" in shown
        assert "training-off" not in poll(s, "visitor-11111111")
        cancel = s.body("training-form-message.children", {"training-cancel.n_clicks": 1, "training-visitor.data": "visitor-22222222"},
                        "training-cancel.n_clicks")
        assert "cancelling" in json.dumps(s.post(cancel))  # a queued job leaves the queue
        assert "training-queue-place" not in poll(s, "visitor-22222222")
    finally:
        state = json.loads((s.runs / ".jobs.json").read_text()) if (s.runs / ".jobs.json").is_file() else {}
        if state.get("current"):
            try:
                os.kill(state["current"]["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        s.close()
