# The book's two commands (README.md): `make html` builds the site, `make test` runs every check.
# Both bootstrap .venv from requirements.txt on first use; only Python 3.11+ is needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BUILD  := _build
CHAPTERS := $(sort $(wildcard chapters/*.ipynb))
# The claims ledger reads the chapters' stored verdicts: executed (and checked) after them;
# the build report says where and with what the book was executed.
NOTEBOOKS := $(CHAPTERS) ledger.ipynb build_report.ipynb
# Tests run two workers on two cores: one thread each avoids oversubscription, and
# `execute` uses the same setting so the stored outputs come from the same arithmetic.
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: html lint unit test site-from-outputs execute clean

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

## html: execute every notebook and build the site into _build/html (zero warnings allowed)
html: $(VENV)/.installed
	$(VENV)/bin/jupyter-book build . --all --warningiserror --nitpick --keep-going

## lint: ruff (rules and formatting, settings in pyproject.toml) and mypy over nblib
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check nblib tests tools
	$(VENV)/bin/ruff format --check nblib tests tools
	$(VENV)/bin/mypy nblib

## unit: the unit tests alone (no notebooks, no browser test of the site): the quick loop
unit: $(VENV)/.installed
	$(ONE_THREAD) $(PY) -m pytest -p no:cacheprovider -q -n 2 tests --ignore=tests/test_site.py

## test: lint, then the site from the stored outputs (zero warnings), unit tests, the
## browser test of that site, and strict nbval re-executing every chapter against its outputs
test: $(VENV)/.installed
	$(MAKE) lint
	$(MAKE) site-from-outputs
	$(ONE_THREAD) $(PY) -m pytest -p no:cacheprovider -n 2 --dist loadscope --nbval --nbval-current-env \
		--nbval-cell-timeout=600 tests $(NOTEBOOKS)

# The site rendered from the stored outputs that nbval compares (no second execution).
site-from-outputs: $(VENV)/.installed
	mkdir -p $(BUILD)
	$(PY) -c 'import os, yaml; c = yaml.safe_load(open("_config.yml")); \
		c["execute"]["execute_notebooks"] = "off"; ext = c["sphinx"]["local_extensions"]; \
		c["sphinx"]["local_extensions"] = {k: os.path.abspath(v) for k, v in ext.items()}; \
		yaml.safe_dump(c, open("$(BUILD)/_config_stored_outputs.yml", "w"))'
	$(VENV)/bin/jupyter-book build . --config $(BUILD)/_config_stored_outputs.yml --all --warningiserror --nitpick --keep-going

## execute: re-run the chapters in place on this CPU, storing outputs for nbval (before committing)
execute: $(VENV)/.installed
	$(ONE_THREAD) $(VENV)/bin/jupyter execute --inplace --timeout=600 $(if $(NB),$(NB),$(NOTEBOOKS))

clean:
	rm -rf $(BUILD)
