# Two commands matter: `make run` (the local demo, no Azure account) and `make test` (every check).
# Both create the virtual environment and install what they need on a fresh machine.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
AZURITE_VERSION := 3.37.0

.PHONY: run test lint typecheck infra-check pytest bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Azurite (Blob storage emulator) from npm, for the metadata-cache integration tests.
.tools/node_modules/.bin/azurite:
	mkdir -p .tools
	npm install --prefix .tools --no-audit --no-fund --silent azurite@$(AZURITE_VERSION)

run: $(BIN)/.installed
	$(BIN)/python -m emulators.local_stack

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

pytest: $(BIN)/.installed .tools/node_modules/.bin/azurite
	$(BIN)/pytest

# Bicep: checkov (pinned, in its own venv under .tools/) and a parse of every file.
infra-check:
	bash infra/checks/run.sh

test: lint typecheck infra-check pytest

bench: $(BIN)/.installed
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
