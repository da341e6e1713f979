# The two commands: `make demo` runs the whole stack with a demo farm; `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
WEB_PORT ?= 8000
FLOWER_PORT ?= 5555
export WEB_PORT FLOWER_PORT

.PHONY: setup demo test lint typecheck migrations-check pytest bench requirements

setup:
	@bash scripts/setup.sh

demo: setup
	@$(MANAGE) migrate --no-input -v 0
	@$(MANAGE) sync_periodic_tasks
	@$(MANAGE) load_demo
	@$(MANAGE) load_market_history
	@$(MANAGE) market_refresh
	@echo ""
	@echo "  Site      http://127.0.0.1:$(WEB_PORT)/"
	@echo "  Dashboard http://127.0.0.1:$(WEB_PORT)/main"
	@echo "  Admin     http://127.0.0.1:$(WEB_PORT)/admin/"
	@echo "  API docs  http://127.0.0.1:$(WEB_PORT)/api/docs/"
	@echo "  Health    http://127.0.0.1:$(WEB_PORT)/healthz"
	@echo "  Flower    http://127.0.0.1:$(FLOWER_PORT)/"
	@echo "  Press Ctrl-C to stop everything."
	@echo ""
	@$(VENV)/bin/honcho -f Procfile start

test: setup lint typecheck migrations-check pytest

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy .

migrations-check:
	DJANGO_SETTINGS_MODULE=mining_platform.settings.test $(MANAGE) makemigrations --check --dry-run

pytest:
	$(VENV)/bin/pytest

# Each bench/<name>.py; bench/_*.py are modules the benches share. The benches refuse an unmigrated database.
bench: setup
	@$(MANAGE) migrate --no-input -v 0
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Regenerate the pinned requirements.txt after editing requirements.in.
requirements:
	$(VENV)/bin/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links --no-header -o requirements.txt requirements.in
