# kommunebarometer: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV_VERSION := 0.13.9

# Inputs and outputs (override on the command line, e.g. make report RAW_DIR=/path/to/delivery).
# They reach the build as environment variables, never as shell words: analysis.build checks
# each as data (years and thresholds whole numbers, paths as paths) before anything runs.
RAW_DIR           ?= data/raw
CODEBOOK          ?= data/codebook.yml
REPORTS_DIR       ?= reports
PROCESSED_DIR     ?= data/processed
REGISTER_SNAPSHOT ?=
MEDIUM            ?= 5000
LARGE             ?= 20000
LANG_REPORT       ?= nb
YEARS             ?=
JOBS              ?=
DRY_RUN           ?=
BUILD_VARIABLES := RAW_DIR CODEBOOK REPORTS_DIR PROCESSED_DIR REGISTER_SNAPSHOT MEDIUM LARGE \
  LANG_REPORT YEARS JOBS DRY_RUN
# Each keeps the text it was given: a value such as $$(shell ...) is not expanded by make
$(foreach v,$(BUILD_VARIABLES),$(eval override $(v) := $$(value $(v))))
export $(BUILD_VARIABLES)

STAMP := $(VENV)/.installed

.PHONY: help venv report pdf test test-fast bench lint format lab i18n demo-data fetch-register accept-register lock clean

help: ## Show this help
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}'
	@echo "  Variables: RAW_DIR CODEBOOK REPORTS_DIR PROCESSED_DIR REGISTER_SNAPSHOT MEDIUM LARGE LANG_REPORT YEARS JOBS DRY_RUN"

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (as on the development machine),
# Python never caches bytecode, and every kernel recompiled pandas, scipy and statsmodels
# (measured: a cold demo build took 172 s without the .pyc files, 88 s with them).
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) \
	  && VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip sync --quiet --compile-bytecode requirements.lock \
	  || $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip install --quiet --no-deps -e . 2>/dev/null \
	  || $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name kommunebarometer --display-name "Python (kommunebarometer)" >/dev/null
	touch $@

venv: $(STAMP) ## Create .venv from the pinned lock and register the Jupyter kernel

# The build graph is build.mk; analysis.build checks the parameters and the output folders,
# writes the input tokens, takes the lock on the reports folder and runs it on all cores.
report: $(STAMP) ## Build the barometer for every survey year into $(REPORTS_DIR)/ (only what changed; DRY_RUN=1 lists it)
	@$(PY) -m analysis.build $(if $(DRY_RUN),--dry-run)

pdf: report ## The printable edition: each year's pages as one PDF (needs chromium), in $(REPORTS_DIR)/<year>/
	@$(PY) scripts/print_edition.py

TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test: $(STAMP) ## Run lint and the whole test suite (pytest-xdist, TEST_JOBS workers)
	$(VENV)/bin/ruff check src tests scripts notebooks benchmarks
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP) ## Lint and the tests that build nothing and execute no notebook
	$(VENV)/bin/ruff check src tests scripts notebooks benchmarks
	$(PY) -m pytest -m "not slow" -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

bench: $(STAMP) ## Measure cold, no-op and incremental builds, the floor and scaling (benchmarks/results.md)
	$(PY) benchmarks/bench.py

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check src tests scripts notebooks benchmarks
	$(VENV)/bin/ruff format --check src tests scripts benchmarks

format: $(STAMP) ## Format the code with ruff
	$(VENV)/bin/ruff format src tests scripts benchmarks

lab: $(STAMP) ## Open JupyterLab on the project (project kernel)
	$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

i18n: $(STAMP) ## Add new Bokmål texts to the English message catalog (then translate them)
	$(PY) scripts/i18n_extract.py

demo-data: $(STAMP) ## Regenerate the synthetic demo exports in data/raw (deliberate change)
	$(PY) -m demo

fetch-register: $(STAMP) ## Fetch the register from SSB's APIs into data/external/ssb_register
	$(PY) -c "from analysis import ssb, config; ssb.fetch_register(config.EXTERNAL_DIR / 'ssb_register', list(range(2015, 2025)))"
	@echo "record it with: make accept-register REGISTER_SNAPSHOT=data/external/ssb_register"

accept-register: $(STAMP) ## Record REGISTER_SNAPSHOT as the register in use (prints what changes)
	@test -n "$$REGISTER_SNAPSHOT" || { echo "usage: make accept-register REGISTER_SNAPSHOT=<dir>"; exit 2; }
	$(PY) -m analysis.register accept "$$REGISTER_SNAPSHOT"

lock: ## Re-resolve requirements.lock from pyproject.toml and regenerate environment.yml
	VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(PY) scripts/sync_environment.py

clean: $(STAMP) ## Remove what the build made for REPORTS_DIR/PROCESSED_DIR (only files it lists as its own)
	@$(PY) -m analysis.build --clean
