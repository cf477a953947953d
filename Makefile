# alpr-stream: every set-up step lives here, so two commands do everything on a fresh machine:
#   make demo   - create the virtualenv, install, run the main job on the embedded default
#   make test   - the whole test suite, services included (Kafka, Cassandra, Flink, Triton)
SHELL := /bin/bash
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Downloaded service artifacts (jars, Flink home, Triton) are shared by every checkout of the
# project on this machine, so a fresh clone downloads nothing twice.
export ALPR_CACHE ?= $(HOME)/.cache/alpr-stream

.PHONY: install demo test test-unit test-integration services-fetch services-up services-down \
        system-deps bench bench-services soak eval clean

# One short line per phase; pip's own output goes to $(VENV)/pip-install.log (shown if it fails).
$(STAMP): setup.py
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python 3.11)"; exit 1; }
	@echo "== make: environment $(VENV) ($$($(PY) --version))"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "== make: installing pip, setuptools and wheel"
	@$(BIN)/python -m pip install -q --upgrade "pip>=24" "setuptools>=69" wheel
	@echo "== make: installing alpr-stream and its dependencies (PyPI)"
	@$(BIN)/python infra/pip_progress.py -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	@echo "== make: running the demo (alpr demo: synthetic clip, hotlist, pipeline, report)"
	@$(BIN)/alpr demo

system-deps:
	@bash infra/system-deps.sh

services-fetch: install
	@echo "== make: fetching the services (Kafka, Cassandra, Flink, Triton) into $(ALPR_CACHE)"
	@bash infra/services.sh fetch all

services-up: services-fetch
	bash infra/services.sh up all

services-down:
	bash infra/services.sh down all

# The whole suite: unit, pipeline, browser and service-backed tests. The pytest fixtures
# start Kafka, Cassandra, Flink and Triton once per session on free ports. One process: with
# two pytest-xdist workers (XDIST="-n 2 --dist loadgroup": the service-backed tests grouped in
# one, tests/conftest.py) the suite took 30 min instead of ~35, but Triton's Python backend
# crashed under the extra load (boost lock_exception) and the Triton-backed tests failed.
# pytest prints the 15 slowest tests, then its summary line last.
PYTEST := $(BIN)/python -m pytest -ra --durations=15
XDIST ?=

test: install system-deps services-fetch
	@echo "== make: running the test suite"
	@$(PYTEST) $(XDIST) $(PYTEST_ARGS) tests

test-unit: install
	@$(PYTEST) -m "not services" $(PYTEST_ARGS) tests

test-integration: install services-fetch
	@$(PYTEST) -m services $(PYTEST_ARGS) tests

bench: install
	$(BIN)/python benchmarks/run_all.py

# The benchmarks that need Kafka, Cassandra and Triton (started on free ports, then stopped).
bench-services: install services-fetch
	$(BIN)/python benchmarks/run_all.py --services

# Bounded soak: the pipeline under a synthetic load for SOAK_MINUTES, memory/lag/throughput over time.
# SOAK_RUNNER=flink: the PyFlink job on its own Kafka, Cassandra and Flink cluster (benchmarks/soak_flink.py).
SOAK_MINUTES ?= 2
SOAK_RUNNER ?= direct
soak: install
ifeq ($(SOAK_RUNNER),flink)
	$(MAKE) services-fetch
	$(BIN)/python benchmarks/soak_flink.py --minutes $(SOAK_MINUTES)
else
	$(BIN)/python benchmarks/soak.py --minutes $(SOAK_MINUTES)
endif

eval: install
	$(BIN)/python benchmarks/eval_accuracy.py

clean:
	rm -rf .run build *.egg-info
