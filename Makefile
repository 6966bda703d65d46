# Everything the project needs is installed by this file into .venv.
# A fresh machine needs only Python 3.11+, pip and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# the package's extras to install; CI adds dnn (PyTorch, several GB) so that the torch
# tests run there: make test EXTRAS=all,dev,dnn
EXTRAS ?= all,dev
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: setup demo test lint typecheck unit fuzz bench bench-apps bench-chaos bench-dag bench-inputs bench-offload bench-quality bench-runtime bench-schedulers bench-serve bench-simulator clean dnn-dags

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the package with every extra

demo: $(STAMP) ## run the main job on an embedded local setup
	$(BIN)/edgeoffload demo --out results/demo

lint: $(STAMP) ## ruff, formatting, and the one-way imports (tests/test_architecture.py)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -p no:cacheprovider tests/test_architecture.py

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit ## lint, type-check and run the whole test suite

fuzz: $(STAMP) ## seeded mutation of every input format through the real commands: tracebacks, hangs, memory; ARGS="--cases 5000 --seed 1"
	$(BIN)/python benchmarks/fuzz_inputs.py $(ARGS)

bench: bench-schedulers bench-quality bench-simulator bench-inputs bench-runtime bench-offload bench-dag bench-chaos bench-apps bench-serve ## every benchmark, one after another (see benchmarks/README.md)

bench-runtime: $(STAMP) ## offloaded no-op round trip vs Dask submit, a Ray actor and raw TCP
	$(BIN)/python benchmarks/bench_runtime.py

bench-chaos: $(STAMP) ## calls under kills, freezes, cuts (root) and scheduler restarts: lost, wrong, duplicated, latency, rejoin; ARGS=--quick
	$(BIN)/python benchmarks/bench_chaos.py $(ARGS)

bench-schedulers: $(STAMP) ## HEFT/CPOP/PEFT scheduling time vs saga (in .venv-saga); ARGS=--quick skips 5,000 tasks
	$(BIN)/python benchmarks/bench_schedulers.py $(ARGS)

bench-dag: $(STAMP) ## scheduled DAGs: overhead vs plain Dask; prediction error on an emulated network (root); ARGS=--quick
	$(BIN)/python benchmarks/bench_dag.py $(ARGS)

bench-simulator: $(STAMP) ## simulated tasks per second, batch and stream, 10-1000 nodes, up to 1M tasks
	$(BIN)/python benchmarks/bench_simulator.py

bench-quality: $(STAMP) ## every scheduler's makespan vs the lower bound and proven optimum, beside saga's heuristics; ARGS=--quick
	$(BIN)/python benchmarks/bench_quality.py $(ARGS)

bench-serve: $(STAMP) ## edgeoffload serve: sustained frame rate at the SLO, DHS vs baselines; prediction error; ARGS=--quick or --soak 60
	$(BIN)/python benchmarks/bench_serve.py $(ARGS)

bench-inputs: $(STAMP) ## a 180,000-task problem file through schedule, and what --gantt adds on 2,000 tasks
	$(BIN)/python benchmarks/bench_inputs.py $(ARGS)

bench-offload: $(STAMP) ## offloaded Reversi/Linpack speedup vs the client's throttling factor
	$(BIN)/python benchmarks/bench_offload_speedup.py --plot

bench-apps: $(STAMP) ## unchanged pyperformance/numpy/networkx/sympy programs offloaded from a 1/4-core client vs local and Ray; ARGS=--quick
	$(BIN)/python benchmarks/bench_apps.py $(ARGS)

dnn-dags: ## regenerate the shipped DNN DAGs (torch in its own .venv-dnn; docs/workloads.md)
	@test -x .venv-dnn/bin/python || $(PYTHON) -m venv .venv-dnn
	.venv-dnn/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0 torchvision==0.28.0
	.venv-dnn/bin/python tools/dnn_dags/extract.py

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
