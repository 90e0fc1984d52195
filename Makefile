# hiermeta — the README's two commands are `make demo` and `make test`; both set up .venv first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint typecheck bench validate clean

install: $(STAMP)

# (Re)create the venv when it is missing, built on Python < 3.12, or older than pyproject.toml.
$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	  py=$$(sh tools/find-python) || exit 1; \
	  echo "creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV) || exit 1; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,distributed]"
	@touch $(STAMP)

# The flagship analysis: every spec in models/, one report folder each under out/ (index in out/index.html)
demo: install
	$(BIN)/hiermeta run models/ptr_overall.toml models/ptr_design.toml models/ptr_organs.toml \
	  models/ptr_multilevel.toml models/ptr_sensitivity.toml models/simulated_organs.toml \
	  models/ptr_nested.toml models/simulated_nested.toml models/magnesium_small_study.toml --out out

lint: install
	$(BIN)/ruff check src tests benchmarks docs/notebooks tools
	$(BIN)/ruff format --check src tests benchmarks docs/notebooks tools
	$(BIN)/python tools/check_layers.py src

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	MPLBACKEND=Agg $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: install
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -m "not slow"

bench: install
	MPLBACKEND=Agg $(BIN)/python benchmarks/run.py --out docs/benchmarks.md

# Coverage study and simulation-based calibration → docs/validation/, every fit through hm.batch
# on a local Dask cluster (about 10 minutes), then the NUTS small-k study and the agreement calibration
# (about 15 minutes)
validate: install
	MPLBACKEND=Agg $(BIN)/python -m hiermeta.validation --out docs/validation --scheduler processes
	MPLBACKEND=Agg $(BIN)/python -m hiermeta.validation.nuts_study --out docs/validation
	MPLBACKEND=Agg $(BIN)/python -m hiermeta.validation.nested_study --out docs/validation
	MPLBACKEND=Agg $(BIN)/python -m hiermeta.validation.small_study_study --out docs/validation

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
