# The README's two commands:
#   make run    audit this machine's Docker engine and print the report
#   make test   everything CI runs (as root: it installs packages and starts dockerd)
# Both create .venv and (re)install the pinned requirements when the venv is missing or they changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-requirements
DEV_STAMP := $(VENV)/.installed-requirements-dev
# Extra arguments for the CLI: make run ARGS="--section 5 --json var/report.json"
ARGS ?=

.PHONY: run test lint services

run: $(RUN_STAMP)
	$(BIN)/python -m dockerbench $(ARGS)

test: $(DEV_STAMP) services lint
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-insecure-key-for-tests-only}" \
		$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy
	@# pytest exits 5 when it collected no test: that stays a failure, with a word on why.
	$(BIN)/pytest || { rc=$$?; [ $$rc -ne 5 ] || echo "make test: pytest collected no tests" >&2; exit $$rc; }

services:
	@[ "$$(id -u)" -eq 0 ] || \
		{ echo "make test needs root: it installs packages and starts dockerd (sudo make test)" >&2; exit 1; }
	scripts/services.sh

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(RUN_STAMP)
