# Two commands: `make run` starts Propscope, `make test` runs the whole suite.
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench clean

# Node is for the tests only (the page has no build step): axe-core for the accessibility checks
# of tests/e2e, and Node's own test runner for the JavaScript unit tests in tests/js/.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.torch: | $(BIN)/python
	# CPU build only (a local wheel on this machine); the PyTorch comparisons skip without it.
	$(BIN)/pip install --quiet torch==2.13.0 || echo "torch not installed: PyTorch comparison tests will be skipped"
	touch $@

run: $(VENV)/.installed
	$(BIN)/propscope serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed $(VENV)/.torch node_modules/.package-lock.json
	$(BIN)/ruff check engine app tests bench propscope
	node --test tests/js/
	$(BIN)/python -m pytest

bench: $(VENV)/.installed $(VENV)/.torch
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache node_modules
