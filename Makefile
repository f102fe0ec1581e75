# Two commands set up a fresh machine: `make run` serves the app, `make test` tests it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test superuser lint format benchmark requirements clean

# Local development: DEBUG on, embedded SQLite and data/media unless a DSN says otherwise.
run: export DJANGO_DEBUG ?= True
run: $(VENV)/.run-installed
	mkdir -p data/media
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	@echo "Serving at http://$(HOST):$(PORT)/admin/"
	$(BIN)/uvicorn myapp.asgi:application --host $(HOST) --port $(PORT) \
		--reload --reload-dir myapp --reload-dir uploader

# An admin account for `make run`: asked for, or taken from DJANGO_SUPERUSER_USERNAME,
# DJANGO_SUPERUSER_PASSWORD and DJANGO_SUPERUSER_EMAIL when they are set.
superuser: export DJANGO_DEBUG ?= True
superuser: $(VENV)/.run-installed
	mkdir -p data
	$(BIN)/python manage.py migrate --no-input --verbosity 0
	$(BIN)/python manage.py createsuperuser $(if $(DJANGO_SUPERUSER_USERNAME),--no-input)

# The whole suite on PostgreSQL: DEFAULT_DATABASE_DSN if set, else a throwaway server.
test: $(VENV)/.test-installed
	$(BIN)/python -m tests.postgres $(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole app under the Dockerfile's CMD, as ratios to gunicorn, nginx and dd (docs/performance.md):
# a table, benchmark-results.json and benchmark-results.png. Uses wrk and nginx when installed.
benchmark: $(VENV)/.test-installed
	$(BIN)/python -m benchmarks.app $(BENCHMARK_ARGS)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Recompile the pinned requirements after editing a .in file.
requirements: $(VENV)/.test-installed
	$(BIN)/pip-compile requirements.in -o requirements.txt
	$(BIN)/pip-compile requirements-dev.in -o requirements-dev.txt

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache

$(VENV)/.run-installed: requirements.txt
	@scripts/check-build-tools
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.run-installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@
