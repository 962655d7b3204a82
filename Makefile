# Two commands on a fresh machine:  make dev   and   make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080

.PHONY: dev test lint bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

dev: $(VENV)/.runtime  ## run the whole product locally on http://127.0.0.1:$(PORT)
	PORT=$(PORT) $(PY) -m shared.devserver

test: $(VENV)/.dev  ## install the dev requirements and run the whole test suite
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(PY) -m ruff check .

bench: $(VENV)/.dev
	$(PY) bench/submit.py

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
