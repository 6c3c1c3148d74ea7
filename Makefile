# One task runner, used the same way locally and in CI.
# Every target that needs Python creates .venv and installs the project first, so
# `make conformance` and `make test` work on a fresh machine with only python3 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# mitmproxy's mitmdump, for the test that judges a HAR a real tool wrote
# (tests/cli/test_judge_real_har.py). Its own venv: mitmproxy pins h11<=0.14, the
# project's httpx needs 0.16 (docs/decisions.md). Inside .venv, so `make clean` removes it.
MITMPROXY_VENV  := $(VENV)/tools/mitmproxy
MITMPROXY_STAMP := $(MITMPROXY_VENV)/.installed-stamp
ARGS   ?=
# Three workers on the two-core machines this runs on: the tests spend about half their
# time waiting on the servers they start (settle times, late effects), which a third
# worker fills; work stealing keeps a long test from finishing alone at the end.
# docs/benchmarks.md ("make test") has the measured times of 2, 3 and 4 workers.
TEST_ARGS ?= -n 3 --dist worksteal

.PHONY: help venv conformance test lint typecheck unit replay benchmark clean

help:
	@echo "make conformance  run the conformance suite against the embedded reference server"
	@echo "make test         lint, type-check and run the project's own tests"
	@echo "make benchmark    measure the server, then the suite against every fault (slow; numbers"
	@echo "                  for docs/benchmarks.md; run scripts/benchmark_*.py alone for options)"
	@echo "make mutants      mutation testing of the reference server (~30 min; docs/mutation.md)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Every package pinned in the constraints file (the whole tree, from `pip freeze`); about
# 10 s on a fresh venv. Rebuilt from scratch when the pins change.
$(MITMPROXY_STAMP): constraints-mitmproxy.txt | $(STAMP)
	rm -rf $(MITMPROXY_VENV)
	$(PYTHON) -m venv $(MITMPROXY_VENV)
	$(MITMPROXY_VENV)/bin/python -m pip install --quiet -c constraints-mitmproxy.txt mitmproxy
	@touch $(MITMPROXY_STAMP)

venv: $(STAMP) $(MITMPROXY_STAMP)

conformance: $(STAMP)
	$(BIN)/masivo-conformance run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected nothing: for this project that means a broken
# test tree, so it is reported and counted as a failure rather than passed through.
test: lint typecheck $(MITMPROXY_STAMP)
	@$(BIN)/pytest $(TEST_ARGS) $(ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (the test tree is broken)"; exit 1; fi; \
	exit $$rc

# Two scripts with their own options (see their docstrings): the server's throughput and
# latency, then what each profile catches against every fault of the reference server.
benchmark: $(STAMP)
	$(BIN)/python scripts/benchmark_server.py
	$(BIN)/python scripts/benchmark_suite.py

# Mutation testing of the reference server's business logic (docs/mutation.md): cosmic-ray
# changes one line at a time in a copy of src/ (.mutants/), the suite judges each change.
# Not part of `make test`: about 30 minutes on 2 cores. ARGS=--resume continues a
# campaign that was stopped; `scripts/mutants.py report` prints its figures again.
.PHONY: mutants
mutants: $(STAMP)
	nice -n 19 $(BIN)/python scripts/mutants.py run $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis reports .mutants
