import json
import subprocess
import sys
from collections import Counter

import pytest

from eval.metrics import (
    contains_answer,
    covers,
    hit_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from eval.questions import load_questions
from eval.runner import misses, run, summarize, sweep
from index.ingest import read_corpus
from index.tokenize import tokenize
from tests.conftest import SEED_CORPUS

QUESTIONS = load_questions()


# --- metric arithmetic on hand-made cases ---------------------------------------------------------


def test_hit_and_mrr():
    assert hit_at_k([False, True, False], 1) == 0.0 and hit_at_k([False, True, False], 3) == 1.0
    assert reciprocal_rank([False, False, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([]) == 0.0
    assert covers(10, 50, 12, 50) and not covers(10, 50, 5, 20)


def test_token_f1_and_answer_containment():
    assert token_f1("The Denver Broncos", "Denver Broncos") == 1.0  # articles are ignored
    assert token_f1("Denver", "Denver Broncos") == pytest.approx(2 / 3)
    assert token_f1("nothing", "Denver") == 0.0
    assert contains_answer("It was won by the Denver Broncos, 24–10.", ["Carolina", "denver broncos"])
    assert not contains_answer("Carolina lost.", ["Denver Broncos"])


def test_ndcg_and_recall():
    relevance = {"a": 1, "b": 1}
    assert ndcg_at_k(["a", "b", "c"], relevance, 10) == 1.0
    # one relevant at rank 2 of two relevant: (1/log2(3)) / (1 + 1/log2(3))
    assert ndcg_at_k(["c", "a"], relevance, 10) == pytest.approx((1 / 1.5849625) / (1 + 1 / 1.5849625))
    assert recall_at_k(["c", "a"], relevance, 1) == 0.0 and recall_at_k(["c", "a"], relevance, 2) == 0.5
    assert percentile([1, 2, 3, 4], 50) == 2.5


# --- the question set -----------------------------------------------------------------------------


def test_every_evidence_is_verbatim_in_its_document():
    texts = {d.doc_id: d.text for d in read_corpus(SEED_CORPUS)[0]}
    for q in QUESTIONS:
        if q.answerable:
            assert q.evidence in texts[q.doc], q.id


def test_question_set_covers_what_it_promises():
    kinds = Counter(q.kind for q in QUESTIONS)
    assert len(QUESTIONS) >= 80 and len({q.id for q in QUESTIONS}) == len(QUESTIONS)
    assert kinds["paraphrase"] >= 20 and kinds["followup"] >= 8
    assert kinds["absent"] + kinds["offtopic"] >= 15 and kinds["absent"] >= 5 and kinds["offtopic"] >= 5
    assert len({q.doc for q in QUESTIONS if q.answerable}) == 2
    ids = {q.id: q for q in QUESTIONS}
    for q in QUESTIONS:
        if q.kind == "followup":
            assert q.follows in ids and ids[q.follows].answerable


def test_paraphrases_share_no_content_word_with_their_evidence():
    for q in QUESTIONS:
        if q.kind == "paraphrase":
            assert not set(tokenize(q.question)) & set(tokenize(q.evidence)), q.id


# --- a smoke run with the real model --------------------------------------------------------------


def test_runner_scores_a_few_questions(engine):
    picked = [q for q in QUESTIONS if q.id in {"q004", "q005", "q025"}] + [
        q for q in QUESTIONS if q.kind == "offtopic"
    ][:2]
    results = run(engine, picked, "hybrid")
    summary = summarize(results, engine.settings.threshold)
    assert summary["questions"] == 5 and summary["verbatim"] == 1.0
    assert summary["hit@3"] == 1.0 and summary["offtopic_abstained"] == 1.0
    follow = next(r for r in results if r.question.id == "q005")
    assert follow.searched.startswith("How many Armenians are isolated")  # resolved with q004
    rows = sweep(results, [-1.0, 2.0])
    assert rows[0]["answerable_kept"] == 1.0 and rows[1]["answerable_kept"] == 0.0
    assert misses(results, engine.settings.threshold) == []


def test_cli_prints_table_and_writes_json(seed_index, tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "eval", "--index", str(seed_index), "--limit", "6", "--no-progress", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for text in ("Hit@1", "bm25", "dense", "hybrid", "Abstention threshold sweep", "Misses (hybrid)"):
        assert text in done.stdout
    payload = json.loads(out.read_text())
    assert set(payload["results"]) == {"bm25", "dense", "hybrid"} and len(payload["results"]["hybrid"]) == 6
