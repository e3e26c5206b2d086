# One entry point for setting up, testing and running. `make test` on a fresh clone builds .venv.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

WORDNET := var/wordnet/data.noun

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

install: $(STAMP) $(WORDNET)

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

# Per corpus, the sets never tuned on, then the tuning sets (their figures flatter the scorer): the seeds
# (var/index) and SQuAD's Wikipedia articles (var/bench/squad11_dev). Each prints Hit@1/Hit@3 and how many
# answerable, absent and off-topic questions are refused at the scorer's threshold, with the curve around it.
SQUAD_CORPUS := ../shared/datasets/squad11_dev/corpus.jsonl
SQUAD_INDEX := var/bench/squad11_dev

eval: install
	HF_HUB_OFFLINE=1 $(PY) -m index build --if-stale
	HF_HUB_OFFLINE=1 $(PY) -m index build --if-stale --corpus $(SQUAD_CORPUS) --out $(SQUAD_INDEX)
	HF_HUB_OFFLINE=1 $(PY) -m eval --mode hybrid --questions eval/visitors_report.jsonl
	HF_HUB_OFFLINE=1 $(PY) -m eval --mode hybrid --questions eval/natural.jsonl
	HF_HUB_OFFLINE=1 $(PY) -m eval --mode hybrid --questions eval/holdout.jsonl
	HF_HUB_OFFLINE=1 $(PY) -m eval --mode hybrid --questions eval/wiki_report.jsonl --index $(SQUAD_INDEX)
	HF_HUB_OFFLINE=1 $(PY) -m eval --mode hybrid --questions eval/visitors_tune.jsonl
	HF_HUB_OFFLINE=1 $(PY) -m eval --mode hybrid
	HF_HUB_OFFLINE=1 $(PY) -m eval --mode hybrid --questions eval/wiki_tune.jsonl --index $(SQUAD_INDEX)

# The reranker's weights and the scorer (qa/models/), trained again from tuning data only: SQuAD's tuning half
# and the own tuning sets (about 40 minutes on 2 cores, then 10 for the scorer).
reranker: install
	HF_HUB_OFFLINE=1 $(PY) -m index build --if-stale
	HF_HUB_OFFLINE=1 $(PY) -m index build --if-stale --corpus $(SQUAD_CORPUS) --out $(SQUAD_INDEX)
	HF_HUB_OFFLINE=1 $(PY) -m eval train-reranker
	HF_HUB_OFFLINE=1 $(PY) -m eval train-scorer

lint: install
	$(VENV)/bin/ruff check .
