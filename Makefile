# Everything runs from a project-local virtual environment made with the machine's python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all install test lint typecheck unit docs demo bench fuzz clean state-table

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term-missing

test: lint typecheck unit docs

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

state-table: $(STAMP)
	$(BIN)/python docs/gen/state_table.py

demo: $(STAMP)
	$(BIN)/upscope demo
	@echo
	$(BIN)/upscope demo --store

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

# On demand, bounded: the atheris target for the parser (fuzz/parser_fuzz.py). Any crash
# lands in .fuzz/ and becomes a case in CRASHES, tests/test_fuzz_properties.py.
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/python -m pip install --quiet atheris
	mkdir -p .fuzz/corpus
	$(BIN)/python fuzz/parser_fuzz.py -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		-artifact_prefix=.fuzz/ .fuzz/corpus fuzz/seeds

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage site
