# moorage — two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit openapi spec-tools packages engine images image wheelhouse dist bench clean

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
test: $(STAMP) packages engine lint typecheck openapi spec-tools
	scripts/registry-up.sh
	$(BIN)/pytest

engine:
	scripts/engine-up.sh

## packages: every Debian package the tests and benchmarks use (scripts/system-packages.txt)
packages:
	scripts/system-packages.sh

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

## spec-tools: Spectral, Redocly, openapi-typescript, tsc (openapi/tools, npm ci); tests/test_spec_tools.py runs them
spec-tools:
	scripts/spec-tools.sh

## image: the service image moorage:latest (README "The image and compose"): no registry, and
## no package index inside the build (wheels built here, in wheelhouse/)
image:
	scripts/image.sh

## wheelhouse: the wheels the image installs from (copy them along for an air-gapped build)
wheelhouse:
	scripts/wheelhouse.sh

## dist: the sdist and the wheel in dist/ (python -m build)
dist: $(STAMP)
	$(BIN)/python -m build --outdir dist .

## bench: moorage against the engine, issue 6's figures (BENCH_ARGS="--quick", "--write", …)
bench: $(STAMP)
	scripts/system-packages.sh wrk socat curl
	scripts/engine-up.sh
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build wheelhouse/*.whl
