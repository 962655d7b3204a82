# Two commands on a fresh machine:  make dev   and   make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080

# Dependencies (README, Dependencies). Every pip install checks each file against the sha256 hashes in
# requirements*.txt and takes wheels only, so no package's setup code runs at install time.
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -q --require-hashes --only-binary :all:
# requirements*.txt are compiled from requirements*.in for the deploy target (Cloud Functions: Linux, Python 3.11).
# A recompile keeps every existing pin it can; `make deps UPGRADE=1` moves them to the newest allowed releases.
UV_COMPILE := $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux \
	--custom-compile-command "make deps" $(if $(UPGRADE),--upgrade)
# npm tools (firebase-tools, serverless): installed exactly as package-lock.json says, with no install scripts.
NPM_CI := npm ci --ignore-scripts --no-audit --no-fund
NPM_STAMP := node_modules/.npm-ci.stamp

.PHONY: dev test lint bench clean deps audit licences outdated admin

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@

# npm ci empties node_modules first, so the stamp inside it is gone whenever the install is not complete.
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is not installed: the Node.js tools need Node.js 20+ and npm" >&2; exit 1; }
	$(NPM_CI)
	touch $@

# With Node.js, the Firebase Auth emulator runs beside it (sign-in); without, anonymous only (it says so).
dev: $(VENV)/.runtime  ## run the whole product locally on http://127.0.0.1:$(PORT)
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(NPM_STAMP); fi
	PORT=$(PORT) $(PY) -m tools.auth_emulator --dev -- $(PY) -m shared.devserver

admin: $(VENV)/.runtime  ## grant the admin claim: make admin EMAIL=someone@example.com (REVOKE=1 takes it back)
	$(PY) -m shared.admin $(if $(REVOKE),revoke,grant) "$(EMAIL)"

test: $(VENV)/.dev $(NPM_STAMP)  ## install the pinned dependencies, then ruff, licences, audit and the whole test suite
	$(PY) -m ruff check .
	$(PY) -m tools.licences --quiet
	$(PY) -m tools.audit
	$(PY) -m tools.auth_emulator -- $(PY) -m pytest  # one Firebase Auth emulator for every worker

lint: $(VENV)/.dev
	$(PY) -m ruff check .

# Every benchmark in bench/, one after another, into bench/RESULTS.md (README, Benchmarks); not part of make test.
# make bench QUICK=1 (about a minute per script), make bench ONLY=submit,limiter (a subset).
bench: $(VENV)/.dev  ## run the benchmarks and write bench/RESULTS.md (QUICK=1 short runs, ONLY=a,b a subset, KEEP=1 keeps the others' last results)
	$(PY) bench/run.py $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY)) $(if $(KEEP),--keep)

LOCKS := requirements.txt requirements-dev.txt package-lock.json

deps: $(VENV)/.dev  ## recompile requirements*.txt (hashed) and package-lock.json after editing a .in file or package.json
	rm -rf $(VENV)/locks.before && mkdir -p $(VENV)/locks.before && cp -p $(LOCKS) $(VENV)/locks.before/
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-dev.in -o requirements-dev.txt
	npm $(if $(UPGRADE),update,install) --package-lock-only --ignore-scripts --no-audit --no-fund
	@# an unchanged file keeps its old date, so nothing is reinstalled for it
	@for f in $(LOCKS); do cmp -s $$f $(VENV)/locks.before/$$f && touch -r $(VENV)/locks.before/$$f $$f \
		|| echo "$$f changed: review and commit it"; done; rm -rf $(VENV)/locks.before
	$(MAKE) --no-print-directory $(VENV)/.dev $(NPM_STAMP)
	$(PY) -m tools.licences

audit: $(VENV)/.dev  ## pip-audit and npm audit against audit-allowlist.toml (also part of make test)
	$(PY) -m tools.audit

licences: $(VENV)/.dev  ## every runtime dependency's licence against the allowed list
	$(PY) -m tools.licences

outdated: $(VENV)/.dev  ## weekly check: outdated and vulnerable packages, Python and npm, in one table
	$(PY) -m tools.outdated

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
