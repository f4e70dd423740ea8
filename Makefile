# Everything runs inside .venv, created on first use from the repo's own files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-all

.PHONY: test run demo lint typecheck check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $(STAMP)

## make test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## make run: the main job: the example Flask app on the embedded SQLite default,
## at http://127.0.0.1:8000 (get a key with: .venv/bin/supportkit keys create --role admin)
run: $(STAMP)
	$(BIN)/supportkit serve

## make demo: the guided tour of tickets and their SLA clocks
demo: $(STAMP)
	$(BIN)/supportkit demo

## make lint / typecheck / check: ruff and mypy --strict
lint: $(STAMP)
	$(BIN)/ruff check supportkit tests benchmarks
	$(BIN)/ruff format --check supportkit tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

## make bench: the benchmarks (run by hand; see docs/performance.md)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_calendar.py
	$(BIN)/python benchmarks/bench_desk.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
