# Guanxi CRM. The two commands a new user needs:
#   make up     set up a local virtualenv, migrate, load demo data, serve on http://127.0.0.1:8000
#   make test   run the whole test suite (SQLite + SQLite queue, then PostgreSQL + Redis queue)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: up test setup browser lint format messages bench-demo clean

up: setup
	$(BIN)/guanxi up

test: setup browser
	bash scripts/test.sh

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Debian's chromium for the browser tests (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || bash scripts/install-chromium.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

messages: setup
	cd guanxi && ../$(BIN)/django-admin makemessages -l zh_Hans -l en --no-obsolete && ../$(BIN)/django-admin compilemessages

bench-demo: setup
	$(BIN)/python bench/demo_data.py

clean:
	rm -rf $(VENV) var
