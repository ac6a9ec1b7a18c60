# One command vocabulary for developers, the README and CI. `make help` lists it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CDK := node_modules/.bin/cdk
CONSOLE := console/dist/index.html
# Extra CDK CLI arguments, e.g. make deploy CDK_ARGS="-c cpe='{\"alarmEmail\":\"ops@example.com\"}'"
CDK_ARGS ?=
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help install lock run up console browser chaos replay test lint typecheck unit integration infra e2e bench synth diff deploy destroy openapi clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP) $(CDK) ## Create .venv and node_modules (the CDK CLI) from the pinned locks (done by every target that needs them)

lock: $(STAMP) ## Re-pin requirements/*.txt from requirements/*.in (after editing a .in file)
	$(PY) -m pip install --quiet uv==0.13.9
	cd requirements && ../$(VENV)/bin/uv pip compile --python-version 3.11 --no-header --annotation-style line lambda.in -o lambda.txt
	cd requirements && ../$(VENV)/bin/uv pip compile --python-version 3.11 --no-header --annotation-style line dev.in -o dev.txt

run: $(STAMP) ## The main job: the whole stack locally (moto) and a real sample job end to end
	$(PY) -m local.run

up: $(STAMP) $(CONSOLE) ## The local stack, kept running, and the jobs console: prints their URLs, a token and the AWS endpoint
	$(PY) -m local.run --serve

$(CONSOLE): console/package.json console/package-lock.json $(wildcard console/src/*.* console/src/*/*.* console/*.ts console/index.html) docs/openapi.json
	cd console && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

console: $(CONSOLE) ## Build the jobs console (console/dist: TypeScript, Vite; the typed client from docs/openapi.json)

browser: ## Find Chromium for the browser tests, or install Debian's (as root), or say what to install
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else \
	    echo "The browser tests need Chromium: install it (Debian/Ubuntu: sudo apt-get install chromium) and run make test again." >&2; exit 1; \
	  fi; }

chaos: $(STAMP) ## The chaos run at bench size: 300 jobs, 4 concurrent trackers, duplicates, poison; then with AWS faults (minutes)
	$(PY) -m local.chaos --jobs 300 --workers 4
	$(PY) -m local.chaos --jobs 300 --workers 4 --faults

replay: $(STAMP) ## Replay the bundled CPE/CT message stream through the tracker (no engine)
	$(PY) -m local.replay

test: lint typecheck $(CDK) $(CONSOLE) browser ## Everything: ruff, mypy, the console's type check, unit, integration, infra, e2e and browser tests
	$(PY) -m pytest

lint: $(STAMP) ## ruff (lint and format check) and the import rules between the packages (import-linter)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP) ## mypy --strict
	$(PY) -m mypy

unit: $(STAMP) ## Unit tests only (no AWS, sockets blocked)
	$(PY) -m pytest tests/unit

integration: $(STAMP) ## Integration tests only (moto)
	$(PY) -m pytest tests/integration

infra: $(STAMP) $(CDK) $(CONSOLE) ## Infra tests only (synthesized template)
	$(PY) -m pytest tests/infra

e2e: $(STAMP) $(CONSOLE) browser ## End-to-end tests only (the local stack over HTTP; the console in Chromium)
	$(PY) -m pytest tests/e2e

bench: $(STAMP) ## Every benchmark, each next to its baseline, written to docs/benchmarks.md (about two hours)
	$(PY) -m bench.report

openapi: $(STAMP) ## Write the API's OpenAPI schema to docs/openapi.json
	$(PY) -m local.openapi

$(CDK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(CDK)

synth: $(STAMP) $(CDK) $(CONSOLE) ## Synthesize into cdk.out with the pinned CDK CLI (cdk-nag checks; no Docker)
	$(CDK) synth --quiet $(CDK_ARGS)

diff: $(STAMP) $(CDK) $(CONSOLE) ## cdk diff against the deployed stack (needs AWS credentials)
	$(CDK) diff $(CDK_ARGS)

deploy: $(STAMP) $(CDK) $(CONSOLE) ## cdk deploy (needs AWS credentials and a bootstrapped account)
	$(CDK) deploy $(CDK_ARGS)

destroy: $(STAMP) $(CDK) ## cdk destroy (retained resources stay: see the README)
	$(CDK) destroy $(CDK_ARGS)

clean: ## Remove the virtual environment and build outputs
	rm -rf $(VENV) node_modules console/node_modules console/dist cdk.out .local local-outputs .mypy_cache .ruff_cache .pytest_cache .hypothesis
