# arbtrio — the two commands a new machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint soak chaos clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

## Run the whole service against the five simulated venues until Ctrl-C.
run: $(STAMP)
	$(BIN)/arbtrio sim

## The test suite (property tests use the "ci" Hypothesis profile), on every core.
test: $(STAMP)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest -m "not slow" -n auto

## Long runs: soak tests with many more Hypothesis examples.
soak: $(STAMP)
	HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest -m "slow or not slow"

## Crash recovery for real: SIGKILL `arbtrio run` (live, against `arbtrio emulate`) N times.
chaos: $(STAMP)
	$(BIN)/arbtrio chaos --trials $${TRIALS:-20}

## Benchmarks: hot-path throughput and latency, memory, signing.
bench: $(STAMP)
	$(BIN)/python -m arbtrio.bench

lint: $(STAMP)
	$(BIN)/ruff check arbtrio tests
	$(BIN)/mypy arbtrio

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
