# daihou — the two commands that work on a fresh machine with Python 3.11+ and pip:
#   make demo   set up, build a demo loan book on SQLite and serve it (demo users printed on start)
#   make test   set up and run the whole test suite (PostgreSQL half needs DAIHOU_TEST_PG_URL)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= sqlite:///daihou.db
LOANS ?= 20000

.PHONY: demo test test-slow lint setup clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/daihou --db $(DB) demo --loans $(LOANS) --reset

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

# the long seeded simulations with their independent auditors (90 days of reminders, visits and
# warnings; 180 days of collections): tens of minutes on two cores
test-slow: setup
	$(BIN)/pytest -m slow

clean:
	rm -rf $(VENV) daihou.db daihou.db-wal daihou.db-shm .pytest_cache .mypy_cache .hypothesis
