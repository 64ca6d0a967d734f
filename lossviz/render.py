"""Figures to file bytes, and processes that draw them: matplotlib only (no torch).

``render`` turns a matplotlib figure into the bytes of one format, deterministically.
``Renderers`` are processes started before the caller imports torch (1.5 s here): while torch
loads on one core, they load matplotlib and draw a first figure on the other, so that when the
caller's figures are ready to draw (after a training, say) they are drawn at once and in
parallel. ``lossviz compare`` uses them for a run's figures.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lossviz.files import FIGURE_FORMATS as FORMATS

DEFAULT_DPI = 150
# matplotlib writes a date into SVG and PDF unless told not to (PDF ignores "Date").
METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}, "png": {"Software": None}}
# With either set in a user's matplotlibrc, a layout engine of None would become one again.
_NO_AUTO_LAYOUT = {"figure.autolayout": False, "figure.constrained_layout.use": False}


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")


def render(fig, fmt: str, dpi: int = DEFAULT_DPI) -> bytes:
    """A figure as the bytes of one file format, deterministic for the same input."""
    _check_format(fmt)
    from matplotlib import rc_context

    buf = io.BytesIO()
    # (savefig puts the figure's layout engine back as it found it: None must stay None)
    with rc_context(_NO_AUTO_LAYOUT):
        settle_layout(fig, dpi)
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=METADATA[fmt])
    return buf.getvalue()


def settle_layout(fig, dpi: int = DEFAULT_DPI) -> None:
    """Solve the figure's layout (constrained layout) once, with Agg's text metrics at ``dpi``,
    and keep it: every later ``savefig`` then draws the figure once.

    With a layout engine set, each ``savefig`` draws the whole figure twice, a dry run that
    solves the layout and then the real one, so every SVG and PDF after the PNG solved it again
    (the default set's SVGs took 6.4 s of drawing here, 3.9 s without; PDFs 6.8 s, 4.2 s). The
    axes positions are what the engine leaves, so once solved they serve every format. A PNG's
    are those of matplotlib's own dry run (the same engine on the same renderer: Agg at
    ``dpi``); an SVG or PDF is laid out with those same Agg metrics, not its own backend's at
    72 dpi, so its layout no longer depends on which format was written first (before, an SVG
    written after a PNG had the PNG's layout, one written alone its own).
    """
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    engine = fig.get_layout_engine()
    if engine is None or isinstance(engine, PlaceHolderLayoutEngine) or not fig.axes:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas, own_dpi = fig.canvas, fig.dpi
    FigureCanvasAgg(fig)
    try:
        fig.dpi = dpi
        with contextlib.suppress(ValueError):  # as Figure.draw: a layout that cannot be solved is skipped
            engine.execute(fig)
    finally:
        fig.dpi = own_dpi
        fig.set_canvas(canvas)
    from matplotlib import rc_context

    with rc_context(_NO_AUTO_LAYOUT):
        fig.set_layout_engine(None)


def check_options(formats, dpi) -> None:
    """``ValueError`` for a format or dpi the exporter cannot write."""
    for fmt in formats:
        _check_format(fmt)
    if not (isinstance(dpi, int) and not isinstance(dpi, bool) and 30 <= dpi <= 1200):
        raise ValueError(f"dpi must be an integer in [30, 1200], got {dpi!r}")


@dataclass(frozen=True)
class Plot:
    """A ``plot_mpl`` figure builder by name, with its arguments (plain data): called, it draws
    the figure; pickled, it travels to a renderer process without this process loading
    matplotlib."""

    function: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __call__(self):
        from lossviz import plot_mpl

        return getattr(plot_mpl, self.function)(*self.args, **self.kwargs)


def write_figures(builds: dict[str, Callable[[], object]], out: Path, *, formats, dpi: int = DEFAULT_DPI,
                  style: str = "light", renderers: "Renderers | None" = None) -> list[Path]:
    """Each ``{stem: build}`` figure drawn in every format, by ``renderers`` (or processes
    started here), then written as ``out/STEM.FORMAT``; all are drawn before the first file is
    written, and each is written atomically. Returns the paths."""
    from lossviz.files import prepare_out_dir, write_atomic

    check_options(formats, dpi)
    out = prepare_out_dir(out)
    if renderers is None:
        # Loaded here first, so that renderers forked for each call (a study writes figures
        # for every run) inherit matplotlib instead of each loading it again.
        from lossviz import plot_mpl  # noqa: F401

        with Renderers(min(len(builds), usable_cores()), warm=False) as here:
            drawn = here.draw_all(list(builds.values()), formats, dpi, style)
    else:
        drawn = renderers.draw_all(list(builds.values()), formats, dpi, style)
    files = {out / f"{stem}.{fmt}": data for stem, datas in zip(builds, drawn) for fmt, data in zip(formats, datas)}
    for path, data in files.items():
        write_atomic(path, data)
    return list(files)


def draw(build: Callable[[], object], formats, dpi: int = DEFAULT_DPI, style: str = "light") -> list[bytes]:
    """``build()``'s figure in each format, drawn in a named ``plot_mpl`` style."""
    from lossviz import plot_mpl

    with plot_mpl.style(style):
        fig = build()
        return [render(fig, fmt, dpi) for fmt in formats]


# --- processes that draw ----------------------------------------------------------------------


def _warm_up() -> None:
    """Load what the first figure would: matplotlib and the figure builders, the font, the
    text layout and the PNG writer (a first figure took ~0.1 s longer than the next)."""
    from matplotlib.figure import Figure

    from lossviz import plot_mpl  # noqa: F401 - loaded here, before it is asked for

    fig = Figure(figsize=(3, 2), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="warm-up")
    ax.set_title("warm-up 0.123")
    ax.legend()
    ax.text(0.5, 0.5, "x", fontweight="bold")
    render(fig, "png", 30)


def _serve(conns: list, others: list, warm: bool, inherited) -> None:
    """The first renderer process: warm up (``warm``), fork one sibling per further connection
    (each inherits what was loaded: matplotlib is imported once, not once per process), then
    draw what is sent on the first connection until told to stop.

    Ctrl-C is the parent's to handle (it ends these processes through the pipes, or ends them);
    a renderer that cannot start (matplotlib missing, say) ends quietly and the parent draws."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # (blocked by the parent while it forked)
    for c in others:  # the parent's ends: not ours to hold open
        c.close()
    torch = sys.modules.get("torch")  # forked from a process that has run torch: one thread (as
    if torch is not None:  # DataLoader's workers; a forked OpenMP pool can wait forever)
        torch.set_num_threads(1)
    try:
        if warm:
            _warm_up()
    except Exception:  # noqa: BLE001 - cannot draw here: the parent will
        for c in conns:
            c.close()
        return
    siblings = []
    for i in range(1, len(conns)):
        try:
            pid = os.fork()
        except OSError:  # no process to spare: the parent draws that connection's share
            conns[i].close()
            continue
        if pid == 0:
            for j, c in enumerate(conns):
                if j != i:
                    c.close()
            try:
                _run_jobs(conns[i], inherited)
            finally:
                os._exit(0)
        conns[i].close()
        siblings.append(pid)

    def end(*_) -> None:  # ended by the parent (``Renderers.close``): the siblings end too
        for pid in siblings:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        os._exit(0)

    signal.signal(signal.SIGTERM, end)
    _run_jobs(conns[0], inherited)
    for pid in siblings:  # they end when the parent says so or is gone, as this one did
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _run_jobs(conn, inherited) -> None:
    """Run each job sent on ``conn`` (a pickled callable, or the index of one ``inherited`` at
    the fork) and answer with its bytes, until an empty message or the end of the pipe."""
    try:
        while True:
            message = conn.recv_bytes()
            if not message:
                return
            try:
                kind, job = pickle.loads(message)
                reply = ("ok", (inherited[job] if kind == "inherited" else job)())
            except Exception as e:  # noqa: BLE001 - reported to the parent, which draws it itself
                reply = ("error", f"{type(e).__name__}: {e}")
            conn.send_bytes(pickle.dumps(reply))
    except Exception:  # noqa: BLE001 - the parent is gone (EOFError, OSError)
        return
    finally:
        conn.close()


def can_fork() -> bool:
    """Whether this process may fork renderers: on Linux (macOS's system frameworks are not
    fork-safe), outside a daemon process (which may not have children), and with no other
    Python thread running (a Ray worker, a web server: a thread holding a lock when the fork
    happens leaves it held forever in the child)."""
    import multiprocessing
    import threading

    return (sys.platform.startswith("linux") and not multiprocessing.current_process().daemon
            and threading.active_count() == 1)


def usable_cores() -> int:
    """The cores this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Renderers:
    """Renderer processes, ``n`` of them (default: one per usable core), that draw figures sent
    to them: start them before importing torch. One is forked now; with ``warm`` it loads
    matplotlib and draws a small figure at once, then forks the others from itself.
    ``draw_all`` hands them figures, ``run_all`` any jobs that return file bytes; ``close`` (or
    leaving the ``with``) ends them. Jobs travel pickled, except the ``inherited`` ones, which
    the processes hold from the fork (closures over a catalogue: the exporter forks them where
    its figures are known). Where processes cannot be forked safely (``can_fork``) or one core
    is all there is, there are none, and the jobs run in this process: the same bytes either
    way."""

    JOB_TIMEOUT_S = 120.0  # a renderer silent for this long is given up; its figure is drawn here

    def __init__(self, n: int | None = None, warm: bool = True, inherited: list[Callable[[], list[bytes]]] | None = None) -> None:
        import multiprocessing
        import signal

        self._conns: list = []
        self._procs: list = []
        self._inherited = inherited
        n = usable_cores() if n is None else min(n, usable_cores())
        if n < 2 or not can_fork():
            return  # (one process: the figures are drawn in this one, with no pipe in between)
        ctx = multiprocessing.get_context("fork")
        ends = []
        # Ctrl-C held while forking (the child ignores it from its first line on; a Ctrl-C
        # before that printed its traceback): the parent gets it once the child is started.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(n):
                ends.append(ctx.Pipe())
            # One process is started; it forks the others once it has loaded matplotlib. (Two
            # processes loading it beside torch's import slowed that import by 0.4 s here: this
            # machine's two cores share one physical core's units.)
            proc = ctx.Process(target=_serve, args=([there for _, there in ends], [here for here, _ in ends], warm, inherited),
                               daemon=True, name="lossviz-renderer")
            proc.start()
            self._procs.append(proc)
        except OSError:  # no process to spare: drawn here instead
            self.close()
            for pair in ends:
                for e in pair:
                    e.close()
            return
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for here, there in ends:
            there.close()
            self._conns.append(here)

    def __enter__(self) -> "Renderers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def draw_all(self, builds: list[Callable[[], object]], formats, dpi: int = DEFAULT_DPI, style: str = "light") -> list[list[bytes]]:
        """Each build's figure in each format (``draw``), in order; see ``run_all``."""
        import functools

        return self.run_all([functools.partial(draw, b, tuple(formats), dpi, style) for b in builds])

    def run_all(self, jobs: list[Callable[[], list[bytes]]]) -> list[list[bytes]]:
        """Each job's bytes, in order: one job at a time per process, the next as one is done.
        A job the processes cannot take (it does not pickle and was not inherited) or could not
        run, or all of them where no process is left, runs in this process."""
        from multiprocessing.connection import wait

        results: list = [None] * len(jobs)
        queue = list(range(len(jobs)))
        busy: dict = {}  # connection -> the index of the job it runs
        inherited = jobs is self._inherited

        def give(conn) -> None:
            while queue:
                i = queue.pop(0)
                try:
                    message = pickle.dumps(("inherited", i) if inherited else ("call", jobs[i]))
                except (pickle.PicklingError, AttributeError, TypeError):
                    continue  # run here, below
                try:
                    conn.send_bytes(message)
                except OSError:  # the process is gone
                    queue.insert(0, i)
                    self._drop(conn)
                    return
                busy[conn] = i
                return

        try:
            for conn in list(self._conns):
                give(conn)
            while busy:
                ready = wait(list(busy), timeout=self.JOB_TIMEOUT_S)
                if not ready:  # stuck: those jobs run here, and those renderers are dropped
                    for conn in list(busy):
                        busy.pop(conn)
                        self._drop(conn)
                for conn in ready:
                    i = busy.pop(conn)
                    try:
                        status, value = pickle.loads(conn.recv_bytes())
                    except (EOFError, OSError):
                        self._drop(conn)
                        continue
                    if status == "ok":
                        results[i] = value
                    give(conn)
        finally:  # interrupted with jobs out: their late answers must not pass for the next ones'
            for conn in busy:
                self._drop(conn)
        return [r if r is not None else job() for r, job in zip(results, jobs)]

    def _drop(self, conn) -> None:
        if conn in self._conns:
            self._conns.remove(conn)
        conn.close()

    def close(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.send_bytes(b"")
            conn.close()
        for proc in self._procs:
            proc.join(timeout=0.1)  # idle renderers end at once; busy or still warming up, they are
            if proc.is_alive():  # ended (the first ends the others it forked)
                proc.terminate()
                proc.join()
            proc.close()
        self._conns, self._procs = [], []
