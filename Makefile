# Two commands do all set-up on a fresh machine:
#   make run   - create .venv, install, run the default campaign (config/config.yaml) on the synthetic dataset
#   make test  - create .venv, install, run the test suite (slow tests excluded; `make test-all` includes them)
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
STAMP := $(VENV)/.tcbench-installed

.PHONY: install run test test-all dry-run lint clean-results

install: $(STAMP)

# torch is installed first and pinned: an unpinned torch resolves to a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else "Python 3.11 or 3.12 is required (AIM has no 3.13 wheels)")'
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --profile profiles/local --cores $(CORES)

dry-run: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -n

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m "not slow" --durations=15

test-all: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

clean-results:
	rm -rf results .snakemake
