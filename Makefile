# The two commands of the README:
#   make demo   - set up everything, then run `llamatouch eval --agent autodroid`
#                 on the embedded virtual device with the embedded model
#   make test   - set up everything, then ruff, mypy and the whole pytest suite
#   make test-fast - ruff, mypy and the unit tier (no ../shared, model, browser or adb)
# Both do their own set-up on a fresh machine (virtual env, Python packages,
# the embedded model and encoder, Chromium for browser tests).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.llamatouch-setup

.PHONY: setup demo test test-fast lint typecheck pytest pytest-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh scripts/llama_build.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup.sh
	touch $(STAMP)

demo: setup
	$(BIN)/llamatouch eval --agent autodroid

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy -p llamatouch -p llamatouch_agents -p llamatouch_emulator
	$(BIN)/mypy scripts/demo_builder.py benchmarks/*.py

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

# The unit tier: no ../shared, no real model, no browser, no adb end-to-end (under a minute).
pytest-fast: setup
	$(BIN)/pytest -q -n auto -m "not slow and not shared"

test-fast: lint typecheck pytest-fast

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
