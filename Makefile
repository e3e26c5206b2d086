# One entry point for setting up, testing and running. `make test` on a fresh clone builds .venv.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test run index lint eval
.DEFAULT_GOAL := run

# Reinstall only when the dependency files change. torch is pinned to the CPU wheel first, through
# constraints.txt, so pip never resolves the multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

index: install
	HF_HUB_OFFLINE=1 $(PY) -m index build

run: install
	HF_HUB_OFFLINE=1 $(PY) -m index build --if-stale
	HF_HUB_OFFLINE=1 $(PY) -m qa ask

eval: install
	HF_HUB_OFFLINE=1 $(PY) -m index build --if-stale
	HF_HUB_OFFLINE=1 $(PY) -m eval

lint: install
	$(VENV)/bin/ruff check .
