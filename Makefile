# Every target sets up what it needs: a fresh Debian machine with Python 3.11 needs no
# other step. `make run` installs the daemon's runtime alone and starts it; `make test`
# installs everything the tests need and runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test check bench demo deb clean

setup: $(VENV)/.installed

# The daemon and its runtime dependencies only (scripts/bootstrap run).
$(VENV)/.runtime: pyproject.toml scripts/bootstrap
	scripts/bootstrap run $(PYTHON) $(VENV)
	touch $@

# Everything: tests, linters, the demo's broker and clients, lintian (scripts/bootstrap test).
$(VENV)/.installed: pyproject.toml scripts/bootstrap
	scripts/bootstrap test $(PYTHON) $(VENV)
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/alarmrx run --config config/minimal.toml

test: setup
	scripts/test

check: setup
	scripts/check

bench: setup
	$(BIN)/python -m benchmarks.run

# The README's worked examples against a private broker and daemon (scripts/demo).
demo: setup
	scripts/demo

# A Debian package in dist/ (packaging/build-deb; docs/operations.md).
deb: $(VENV)/.runtime
	packaging/build-deb

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage dist
