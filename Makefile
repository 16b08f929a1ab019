# Quick start: `make demo` runs the fire drill, `make test` runs lint, types and tests.
# Both bootstrap .venv with camcanary installed in editable mode.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck pytest bench bench-history drills clean system

$(VENV)/.python:
	@test -n "$(PYTHON)" || { echo "camcanary needs Python >= 3.11 (python3.11 or python3 on PATH)"; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "camcanary needs Python >= 3.11; $(PYTHON) is older"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.runtime: $(VENV)/.python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# System tools the tests drive for real: Debian's Chromium (Playwright cannot download
# its own browser here) and promtool (Debian's prometheus package) to validate /metrics.
SYSTEM_TOOLS := chromium promtool
system:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing from Debian's packages"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium prometheus >/dev/null; \
		else \
			echo "the tests need$$missing: run 'sudo apt-get install chromium prometheus' (Debian/Ubuntu)"; exit 2; \
		fi; \
	fi

demo: $(VENV)/.runtime
	$(BIN)/camcanary demo

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

pytest: $(VENV)/.dev system
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.dev
	$(BIN)/python bench/identify.py
	$(BIN)/python bench/alert_latency.py
	$(BIN)/python bench/killswitch_latency.py
	$(BIN)/python bench/proxy.py
	$(BIN)/python bench/concurrency.py
	$(BIN)/python bench/recording.py
	$(BIN)/python bench/history.py --rows 1000000
	$(BIN)/python bench/cli_startup.py
	PYTHONPATH=. $(BIN)/python bench/hostile_memory.py  # it shares tests/hostile_media.py

# Every fire drill on the full path x profile matrix (each one exits 1 if it fails).
DRILLS := clean xiaomi-2020 wyze-2024 eufy-2021 stale-cache
drills: $(VENV)/.runtime
	@for scenario in $(DRILLS); do $(BIN)/camcanary drill $$scenario || exit 1; done

# The 10-million-row history benchmark of the README (SQLite and PostgreSQL; ~11 min here).
bench-history: $(VENV)/.dev
	$(BIN)/python bench/history.py --rows 10000000 --runs 3 --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
