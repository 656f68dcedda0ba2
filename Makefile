# moorage — two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit openapi spec-tools packages engine images image wheelhouse dist bench clean ui ui-if-npm ui-test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# The dashboard (ui/, README there): npm ci from its lock file, then openapi-typescript
# from openapi/openapi.json, tsc (strict) and vite build into app/ui/dist, which the
# wheel, the sdist and the image carry. Rebuilt when a source, the lock or the spec is
# newer than the build.
UI_DEPS := ui/node_modules/.moorage-installed
UI_BUILT := app/ui/dist/index.html
UI_SRC := $(shell find ui/src ui/public -type f ! -name schema.d.ts 2>/dev/null) \
	ui/index.html ui/vite.config.ts ui/tsconfig.json ui/package.json

$(UI_DEPS): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

$(UI_BUILT): $(UI_DEPS) $(UI_SRC) openapi/openapi.json
	cd ui && npm run build

## ui: build the dashboard when missing or stale (needs Node.js >= 20.19 and npm)
ui: $(UI_BUILT)

## ui-test: the dashboard's unit tests (ui/tests, node --test); the browser tests are pytest's
ui-test: $(UI_DEPS)
	cd ui && npm test

# make run without npm still serves the API (/ui then says how to build it).
ui-if-npm:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory ui; \
	else echo "make run: npm not found: the dashboard at /ui is not built"; fi

## run: start moorage on 127.0.0.1:8000 against DOCKER_HOST (default: the local socket);
## the dashboard at http://127.0.0.1:8000/ (built first when missing or stale)
run: $(STAMP) ui-if-npm
	@scripts/engine-up.sh || echo "make run: no engine yet; moorage starts anyway (/readyz says 503 until one answers)"
	$(BIN)/moorage serve

## test: engine up, test images, lint, type checks, the dashboard built and type-checked, the whole suite
test: $(STAMP) packages engine lint typecheck openapi spec-tools ui ui-test
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
image: ui
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
	rm -rf ui/node_modules app/ui/dist
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build wheelhouse/*.whl
