# Every target sets up what it needs: a fresh Debian machine with Python 3.11 needs no
# other step. `make run` starts the daemon, `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test check bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/bootstrap
	scripts/bootstrap $(PYTHON) $(VENV)
	touch $@

run: setup
	$(BIN)/alarmrx run --config config/minimal.toml

test: setup
	scripts/test

check: setup
	scripts/check

bench: setup
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage
