# The two commands: `make demo` (set up, then run the demo phase) and `make test` (set up, then run the tests).
# Both create .venv when it is missing. torch is installed first, pinned to the CPU build this machine keeps on
# disk, so nothing later pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PHASELOG_CORPUS ?= $(abspath ../shared/data/corpus)
export PHASELOG_CORPUS

.PHONY: demo test setup browser clean

$(BIN)/phaselog: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/phaselog

setup: $(BIN)/phaselog

demo: setup
	$(BIN)/phaselog run configs/demo.yaml

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
