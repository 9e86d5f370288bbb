# Bordergate: every target installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve emulate demo test lint typecheck pytest bench bench-quick clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## Set up and run the gateway with the embedded defaults (SQLite under ./var, example policy).
serve: $(STAMP)
	@mkdir -p var
	$(BIN)/bordergate serve --config examples/bordergate.yaml

## Run the provider emulator on 127.0.0.1:9000 (for examples/emulated.yaml).
emulate: $(STAMP)
	$(BIN)/bordergate emulate

## The offline demo gateway (examples/emulated.yaml) on 127.0.0.1:4000; run `make emulate` first.
demo: $(STAMP)
	@mkdir -p var
	$(BIN)/bordergate fingerprint build src --out var/bordergate-src.fpi
	$(BIN)/bordergate serve --config examples/emulated.yaml

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -n 2

## Set up and pass the whole suite: lint, types, tests.
test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run --mode full

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --mode quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
