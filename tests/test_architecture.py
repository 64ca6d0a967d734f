"""The layering of docs/architecture.md, checked on the source: imports point down, no private
name crosses a module, no module grows past the size a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lossviz"
MAX_LINES = 550  # "no module over ~500 lines": a little slack, never a second job in one file


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every lossviz module a file imports (``from a.b import c`` counts as a.b and a.b.c)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lossviz"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lossviz"))
    return found


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _below(prefixes: tuple[str, ...], name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# (who, the lossviz modules it must not import)
RULES = [
    # the numerics: math on torch tensors, their specs and nothing else of ours
    ("lossviz.numerics", lambda d: not _below(("lossviz.numerics", "lossviz.spec", "lossviz.checks"), d)
     and d != "lossviz"),
    # the registry lists losses and activations; models belong to the trainer
    ("lossviz.registry", lambda d: _below(("lossviz.train", "lossviz.plot", "lossviz.plot_mpl", "lossviz.plot_plotly",
                                           "lossviz.export", "lossviz.render", "lossviz.explorer", "lossviz.cli"), d)),
    # the trainer records and never draws; it knows nothing of its faces
    ("lossviz.train", lambda d: _below(("lossviz.plot", "lossviz.plot_mpl", "lossviz.plot_plotly", "lossviz.render",
                                        "lossviz.export", "lossviz.style", "lossviz.explorer", "lossviz.cli",
                                        "lossviz.studies", "lossviz.toy"), d)),
    # drawing receives data: it never reads the data set or a run itself
    ("lossviz.plot_mpl", lambda d: _below(("lossviz.data", "lossviz.train", "lossviz.explorer", "lossviz.cli"), d)),
    ("lossviz.plot_plotly", lambda d: _below(("lossviz.data", "lossviz.train", "lossviz.explorer", "lossviz.cli"), d)),
    ("lossviz.studies.plots", lambda d: _below(("lossviz.data", "lossviz.train", "lossviz.explorer", "lossviz.cli"), d)),
    ("lossviz.plot_runs", lambda d: _below(("lossviz.data", "lossviz.train", "lossviz.explorer", "lossviz.cli"), d)),
    ("lossviz.plot_capacity", lambda d: _below(("lossviz.data", "lossviz.train", "lossviz.explorer", "lossviz.cli"), d)),
    ("lossviz.capacity", lambda d: _below(("lossviz.explorer", "lossviz.cli", "lossviz.export", "lossviz.train"), d)),
    ("lossviz.gradcheck", lambda d: _below(("lossviz.explorer", "lossviz.cli", "lossviz.export", "lossviz.train"), d)),
    ("lossviz.plugins", lambda d: _below(("lossviz.explorer", "lossviz.cli", "lossviz.export", "lossviz.train"), d)),
    ("lossviz.download", lambda d: not _below(("lossviz.files", "lossviz.checks"), d)),
    ("lossviz.notebook", lambda d: _below(("lossviz.explorer", "lossviz.cli"), d)),
    ("lossviz.curves", lambda d: _below(("lossviz.train", "lossviz.export", "lossviz.explorer", "lossviz.cli"), d)),
    # the library below the faces imports neither face
    ("lossviz.toy", lambda d: _below(("lossviz.explorer", "lossviz.cli", "lossviz.export"), d)),
    ("lossviz.studies", lambda d: _below(("lossviz.explorer", "lossviz.cli"), d)),
    ("lossviz.export", lambda d: _below(("lossviz.explorer", "lossviz.cli"), d)),
    ("lossviz.checks", lambda d: True),
    ("lossviz.files", lambda d: not _below(("lossviz.checks",), d)),
]


@pytest.mark.parametrize("who, forbidden", RULES, ids=[r[0] for r in RULES])
def test_imports_point_down(who, forbidden):
    broken = sorted(f"{name} imports {dep}" for name, path in MODULES.items() if _below((who,), name)
                    for dep in _imports(path) if forbidden(dep) and not _below((who,), dep))
    assert broken == []


def test_nothing_imports_the_command_line_and_only_it_starts_the_explorer():
    broken = sorted(f"{name} imports {dep}" for name, path in MODULES.items() for dep in _imports(path)
                    if (_below(("lossviz.cli",), dep) and not _below(("lossviz.cli",), name))
                    or (_below(("lossviz.explorer",), dep) and not _below(("lossviz.explorer", "lossviz.cli"), name)))
    assert broken == []


def test_no_private_name_crosses_a_module():
    crossing = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lossviz"):
                crossing += [f"{name}: from {node.module} import {a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
    assert crossing == []


def test_no_module_does_several_jobs():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
