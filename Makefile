# Two commands matter: `make run` (the local demo, no Azure account) and `make test` (every check).
# Both create the virtual environment and install what they need on a fresh machine.

# Python 3.13 (README "Python" says why). Found without manual steps: `python3.13` on PATH if it runs (a
# pyenv shim refuses until a version is selected), else pyenv's own 3.13 install, else a system one.
# `make PYTHON=/path/to/python3.13 ...` overrides the search.
PYTHON_CANDIDATES := python3.13 $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13) \
	$(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) /usr/local/bin/python3.13 /usr/bin/python3.13
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell $(p) -c 'import sys; print(sys.version_info[:2] == (3, 13) and "$(p)" or "")' 2>/dev/null)))
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(BIN)/.installed-py313
AZURITE_VERSION := 3.37.0

.PHONY: run test lint typecheck infra-check pytest bench clean python

python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "make: Python 3.13 not found. Install it, then run make again, e.g.:" >&2; \
		echo "  pyenv install 3.13    (pyenv: found automatically under \$$(pyenv root)/versions, no 'pyenv global' needed)" >&2; \
		echo "  apt-get install python3.13 python3.13-venv python3.13-dev    (where the distribution has it)" >&2; \
		echo "or point make at one: make PYTHON=/path/to/python3.13 test" >&2; \
		exit 1; \
	fi

# requirements.txt constrains the dev install, so tests run on exactly the pins that are deployed.
# python-qpid-proton (the emulator's AMQP engine) has no cp313 wheel: pip builds it from its sdist once
# (about 20 s; gcc and the Python headers are needed) and caches the wheel.
$(STAMP): pyproject.toml requirements.txt | python
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -c requirements.txt
	touch $@

# Azurite (Blob storage emulator) from npm, for the metadata-cache integration tests.
.tools/node_modules/.bin/azurite:
	mkdir -p .tools
	npm install --prefix .tools --no-audit --no-fund --silent azurite@$(AZURITE_VERSION)

run: $(STAMP)
	$(BIN)/python -m demo.local_stack

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) .tools/node_modules/.bin/azurite
	$(BIN)/pytest

# Bicep: checkov (pinned, in its own venv under .tools/) and a parse of every file.
infra-check:
	bash infra/checks/run.sh

test: lint typecheck infra-check pytest

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
