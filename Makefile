# The README's two commands:
#   make run    the dashboard on this machine (SQLite + embedded broker): web, Celery worker and beat; Ctrl-C stops
#   make test   everything CI runs (as root: it installs packages, starts dockerd, Redis and PostgreSQL)
# and the CLI audit of this machine's engine:
#   make audit  ARGS="--section 5 --json var/report.json"
# All create .venv and (re)install the pinned requirements when the venv is missing or they changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-requirements
DEV_STAMP := $(VENV)/.installed-requirements-dev
# Extra arguments for the CLI audit: make audit ARGS="--section 5 --json var/report.json"
ARGS ?=
# make run: where the dashboard listens (loopback only by default: the embedded mode serves plain HTTP).
ADDR ?= 127.0.0.1:8000

# The services scripts/services.sh starts for the tests; the password is the same default there.
PG_PASSWORD := $(or $(DOCKERBENCH_PG_PASSWORD),dockerbench-local-only)
TEST_DATABASE_URL := postgres://dockerbench:$(PG_PASSWORD)@127.0.0.1:5432/dockerbench
TEST_REDIS_URL := redis://127.0.0.1:6379/15

.PHONY: run audit test lint services

# First run: var/secret_key and var/encryption_key are generated once (mode 600) unless the environment sets
# DJANGO_SECRET_KEY / DOCKERBENCH_ENCRYPTION_KEY. Losing var/encryption_key makes stored host credentials unreadable.
run: $(RUN_STAMP)
	@mkdir -p var
	@[ -s var/secret_key ] || (umask 077 && $(BIN)/python -c \
		'import secrets; print(secrets.token_urlsafe(50))' >var/secret_key)
	@[ -s var/encryption_key ] || (umask 077 && $(BIN)/python -c \
		'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' >var/encryption_key)
	@export DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat var/secret_key)}" \
		DOCKERBENCH_ENCRYPTION_KEY="$${DOCKERBENCH_ENCRYPTION_KEY:-$$(cat var/encryption_key)}" \
		DJANGO_ALLOWED_HOSTS="$${DJANGO_ALLOWED_HOSTS:-localhost,127.0.0.1,[::1]}" \
		DJANGO_SECURE_COOKIES="$${DJANGO_SECURE_COOKIES:-0}" && \
		$(BIN)/python manage.py setup_dashboard && \
		exec $(BIN)/python manage.py run_dashboard --addr $(ADDR)

audit: $(RUN_STAMP)
	$(BIN)/python -m dockerbench $(ARGS)

test: $(DEV_STAMP) services lint
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-insecure-key-for-tests-only}" \
		$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-insecure-key-for-tests-only}" $(BIN)/mypy
	@# pytest exits 5 when it collected no test: that stays a failure, with a word on why.
	DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(BIN)/pytest || \
		{ rc=$$?; [ $$rc -ne 5 ] || echo "make test: pytest collected no tests" >&2; exit $$rc; }

services:
	@[ "$$(id -u)" -eq 0 ] || { echo "make test needs root: it installs packages and starts dockerd, Redis and" \
		"PostgreSQL (run it as root)" >&2; exit 1; }
	scripts/services.sh

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# The fact script runs under busybox sh, dash and bash alike: POSIX sh only (Debian's shellcheck).
	shellcheck -s sh dockerbench/collect/facts.sh
	shellcheck scripts/services.sh .ci/run

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(RUN_STAMP)
