# The two commands: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test sysdeps venv lint types pytest fuzz bench clean

sysdeps:
	@bash scripts/sysdeps.sh $(SYSDEPS_FLAGS)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "gisgrid needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo: start the local PostGIS, load the demo city once, serve on 127.0.0.1:8000
demo: sysdeps venv
	$(BIN)/gisgrid db up
	$(BIN)/gisgrid demo --scale small
	$(BIN)/gisgrid serve

## make test: lint, types and the whole test suite against a PostGIS the run starts itself
# with Chromium and CJK fonts for the web map's browser tests and wrk for the live benchmark's test
# (override: make test SYSDEPS_FLAGS=)
test: SYSDEPS_FLAGS ?= --browser --bench
test: sysdeps venv lint types pytest

lint: venv
	$(BIN)/ruff check gisgrid api tests bench scripts
	$(BIN)/ruff format --check gisgrid api tests bench scripts

types: venv
	$(BIN)/mypy

pytest: venv
	GISGRID_REQUIRE_BROWSER=$(if $(findstring --browser,$(SYSDEPS_FLAGS)),1,) $(BIN)/pytest $(PYTEST_ARGS)

## make fuzz: the suite's schemathesis test (tests/api/test_fuzz.py) with a larger budget:
# FUZZ_EXAMPLES cases per operation and caller instead of 2 (100: about 4 minutes here)
FUZZ_EXAMPLES ?= 100
fuzz: venv
	GISGRID_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/api/test_fuzz.py

## make bench: every benchmark beside its peer; wrk (the load generator) comes with --bench
bench: SYSDEPS_FLAGS ?= --bench
bench: sysdeps venv
	$(BIN)/python -m bench

clean:
	-$(BIN)/gisgrid db down
	rm -rf $(VENV) .gisgrid
