# Two commands from a clean clone: `make demo` and `make test`. Both install into ./.venv.
# torch==2.13.0 is installed before the package: see DEVELOPERS.md for why.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The study, reproduced at default scale on the embedded photographs (its budget: 10 min on 2 idle cores, start-up and report included).
demo: $(STAMP)
	$(VENV)/bin/checkerscope reproduce --scale default --out runs/demo

# `make test` runs everything, the tests marked slow included: it is what CI runs (.ci/run).
# `make test-fast` skips the tests marked slow (compile, ONNX, experiment runs), for the quick
# loop while working. Either fails when pytest collects no tests (its exit status 5).
# Two pytest workers on two cores, one torch thread each: more threads than cores make
# torch's thread pools spin against each other and small ops 10-100x slower.
test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --durations=15

test-fast: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -m "not slow" --durations=5

bench: $(STAMP)
	$(PY) benchmarks/layers.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
