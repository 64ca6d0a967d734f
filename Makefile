# Two commands do all the set-up: `make run` (explorer) and `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The real Fashion-MNIST for the slow tests and benchmarks: ../shared/data when it is there.
LOSSVIZ_DATA ?= $(wildcard $(CURDIR)/../shared/data)
export LOSSVIZ_DATA

.PHONY: run test bench figures clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip

# Reinstall only when the package metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@# plotly.js's cartesian bundle from the npm registry, verified (lossviz/explorer/plotly_bundle.py);
	@# without it the explorer loads plotly's full bundle, so a failure here is not an error.
	-$(BIN)/python -m lossviz.explorer.plotly_bundle
	touch $@

# Opens the browser where there is one; serve a class with `make run EXPLORE="--host 0.0.0.0"`.
EXPLORE ?=
run: $(VENV)/.installed
	$(BIN)/lossviz explore $(EXPLORE)

test: $(VENV)/.installed
	$(BIN)/python -m pytest

# The speed targets with their baselines: training, the whole command, the CLI, memory, figures
# (each bench exits 1 when a target is missed; both always run).
bench: $(VENV)/.installed
	$(BIN)/python bench/bench_train.py; train=$$?; $(BIN)/python bench/bench_figures.py; exit $$((train || $$?))

figures: $(VENV)/.installed
	$(BIN)/lossviz figures

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache test-artifacts
