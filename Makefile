# scf-ledger developer entry points. Everything installs into .venv from PyPI;
# a fresh machine needs only python3.11, pip and gcc.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HYPOTHESIS_PROFILE ?= ci

.PHONY: venv test demo bench clean vectors faults fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# pytest exits 5 when it collected no tests: that is a failure, never a pass.
test: $(STAMP)
	@HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) $(BIN)/python -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

demo: $(STAMP)
	$(BIN)/python -m cli.demo

# The in-process benchmarks (a few minutes). The cluster, replay and verify
# benchmarks start processes and run longer: docs/performance.md.
bench: $(STAMP)
	$(BIN)/python bench/ceiling.py
	$(BIN)/python bench/codec_crypto.py
	$(BIN)/python bench/node_pipeline.py
	$(BIN)/python bench/ledger_core.py
	$(BIN)/python bench/store.py --max-keys 100000

# Fault tests on a real localnet: the long crash-under-load run (several minutes)
# and the short one (which `make test` also runs). docs/reliability.md.
faults: $(STAMP)
	SCF_FAULTS=long $(BIN)/python -m pytest -q -s tests/faults

# Each peer-input harness (tests/fuzz) under atheris (libFuzzer) for FUZZ_SECONDS;
# corpus and crashes are kept in $TMPDIR/scf-fuzz (FUZZ_DIR=... to choose).
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --all --seconds $(FUZZ_SECONDS) $(if $(FUZZ_DIR),--workdir $(FUZZ_DIR))

vectors: $(STAMP)
	$(BIN)/python tests/vectors/generate_transactions.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
