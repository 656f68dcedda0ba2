# moorage — two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit openapi engine browser postgres images bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## run: start moorage on 127.0.0.1:8000 against DOCKER_HOST (default: the local socket)
run: $(STAMP)
	@scripts/engine-up.sh || echo "make run: no engine yet; moorage starts anyway (/readyz says 503 until one answers)"
	$(BIN)/moorage serve

## test: engine up, test images, lint, type checks, the whole suite
test: $(STAMP) engine browser postgres lint typecheck openapi
	scripts/registry-up.sh
	$(BIN)/pytest

engine:
	scripts/engine-up.sh

# headless chromium for tests/browser (Debian's package; the test skips without it)
browser:
	scripts/browser-up.sh

## postgres: Debian's PostgreSQL for the audit-log tests (they start their own cluster)
postgres:
	@scripts/postgres-install.sh

lint: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## openapi: regenerate openapi/openapi.json (make test checks it is current)
openapi: $(STAMP)
	$(BIN)/python -m app.openapi --check

openapi-write: $(STAMP)
	$(BIN)/python -m app.openapi

## bench: moorage against the engine, issue 6's figures (BENCH_ARGS="--quick", "--write", …)
bench: $(STAMP)
	scripts/engine-up.sh
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
