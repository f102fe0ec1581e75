# Two commands set up a fresh machine: `make run` serves the app, `make test` tests it.

PYTHON ?= python3
# One virtualenv per interpreter: `make test PYTHON=python3.13` builds .venv-python3.13 and
# leaves .venv (python3's) as it is.
VENV ?= $(if $(filter python3,$(notdir $(PYTHON))),.venv,.venv-$(notdir $(PYTHON)))
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run run-checks test mutation superuser manage lint format benchmark screenshots requirements clean

# Local development: DEBUG on, embedded SQLite and data/media unless a DSN says otherwise.
# In DEBUG, WhiteNoise serves static files from the apps' folders as they change: nothing to
# collect. `make run DJANGO_DEBUG=False` runs the production settings instead, over plain HTTP
# on your machine: it collects the static files, and sets what the platform would (a secret key
# made for the run, DOMAIN) and what plain HTTP needs (no HTTPS redirect, no HSTS), unless you
# set them. DEBUG_OFF: DJANGO_DEBUG is one of the false values that
# myapp/configuration/environment.py reads.
DEBUG_OFF := $(filter false 0 no off,$(shell echo '$(DJANGO_DEBUG)' | tr '[:upper:]' '[:lower:]'))
run: export DJANGO_DEBUG ?= True
ifneq ($(DEBUG_OFF),)
RUN_SECRET_KEY := $(shell $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))")
run: export SECRET_KEY ?= $(RUN_SECRET_KEY)
run: export DOMAIN ?= $(if $(filter 0.0.0.0 ::,$(HOST)),localhost,$(HOST))
run: export SECURE_SSL_REDIRECT ?= False
run: export SECURE_HSTS_SECONDS ?= 0
endif
run: run-checks $(VENV)/.run-installed
	mkdir -p data/media
	$(BIN)/python manage.py migrate --no-input
	$(if $(DEBUG_OFF),$(BIN)/python manage.py collectstatic --no-input --verbosity 0)
	@echo "Serving at http://$(HOST):$(PORT)/admin/"
	$(BIN)/uvicorn myapp.asgi:application --host $(HOST) --port $(PORT) \
		--reload --reload-dir myapp --reload-dir file_lifecycle --reload-dir uploader

# Before make run builds or starts anything: the port is free, and no file it writes belongs
# to another user (a make run as root leaves such files): one line each (scripts/check-run.py).
run-checks:
	@$(PYTHON) scripts/check-run.py --host $(HOST) --port $(PORT) $(VENV) staticfiles data

# An admin account for `make run`: asked for, or taken from DJANGO_SUPERUSER_USERNAME,
# DJANGO_SUPERUSER_PASSWORD and DJANGO_SUPERUSER_EMAIL when they are set.
superuser: export DJANGO_DEBUG ?= True
superuser: $(VENV)/.run-installed
	mkdir -p data
	$(BIN)/python manage.py migrate --no-input --verbosity 0
	$(BIN)/python manage.py createsuperuser $(if $(DJANGO_SUPERUSER_USERNAME),--no-input)

# Any other manage.py command, on make run's settings: make manage ARGS="showmigrations".
manage: export DJANGO_DEBUG ?= True
manage: $(VENV)/.run-installed
	mkdir -p data
	$(BIN)/python manage.py $(ARGS)

# The whole suite on PostgreSQL: DEFAULT_DATABASE_DSN if set, else a throwaway server.
# A script path, not -m tests.postgres: django-storage-url installs a package named tests.
# It prints the coverage of myapp/, file_lifecycle/, uploader/ and transfer/, and fails below
# COVERAGE_FLOOR: 93.5% was measured on the whole suite when it was set, less a point and a half
# for noise. Only code run
# in pytest's own process counts: what the servers and commands that the tests start run is
# tested there too, but not counted. Raise it as tests are added. A subset chosen with
# PYTEST_ARGS only prints it.
COVERAGE_FLOOR := 92
test: $(VENV)/.test-installed
	$(BIN)/python tests/postgres.py $(BIN)/python -m pytest --cov --cov-report=term \
		$(if $(PYTEST_ARGS),,--cov-fail-under=$(COVERAGE_FLOOR)) $(PYTEST_ARGS)

# Mutation testing of myapp/, file_lifecycle/, uploader/ and transfer/ on PostgreSQL (docs/development.md):
# a score per module and the mutants no test catches. Not part of make test or CI. MUTANTS narrows the run
# to some mutants by name, e.g. MUTANTS='uploader.models.*'; MUTATION_JOBS run at once.
MUTATION_JOBS ?= 2
mutation: $(VENV)/.test-installed
	$(BIN)/python tests/postgres.py $(BIN)/python scripts/mutation.py \
		--jobs $(MUTATION_JOBS) $(MUTANTS)

# The README's pictures of the uploader (docs/uploader-*.png), taken anew by the browser tests
# that show those pages; a plain `make test` takes them too, but keeps them out of the tree.
screenshots: $(VENV)/.test-installed
	SCREENSHOTS=update $(BIN)/python tests/postgres.py $(BIN)/python -m pytest -p no:cacheprovider \
		-k "test_an_editor_finds_each_file_and_what_it_is or test_progress_shows_bytes_and_rate" \
		tests/e2e/test_uploader_list.py tests/e2e/test_multi_upload.py

# The whole app under the Dockerfile's CMD, as ratios to gunicorn, nginx, dd and boto3 (docs/performance.md):
# a table, benchmark-results.json and benchmark-results.png. Uses wrk, nginx and Chromium when installed.
benchmark: $(VENV)/.test-installed
	$(BIN)/python -m benchmarks.app $(BENCHMARK_ARGS)

# Every pre-commit hook (.pre-commit-config.yaml) on every file, with the tools of the virtualenv.
lint: $(VENV)/.test-installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pre-commit run --all-files --show-diff-on-failure

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Recompile the pinned requirements after editing a .in file.
requirements: $(VENV)/.test-installed
	$(BIN)/pip-compile requirements.in -o requirements.txt
	$(BIN)/pip-compile requirements-dev.in -o requirements-dev.txt

# What the commands build; data/ (the SQLite database and uploads) stays.
clean:
	rm -rf .venv .venv-* staticfiles mutants .pytest_cache .ruff_cache .coverage

$(VENV)/.run-installed: requirements.txt
	@scripts/check-build-tools
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.run-installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@
