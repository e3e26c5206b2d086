"""The scorer: its fit, its file checked at load, and answers that do not change with how a question is typed."""

import json
import shutil

import numpy as np
import pytest

from eval.questions import HOLDOUT_FILE, NATURAL_FILE, QUESTIONS_FILE, load_questions
from qa.question import normal_form
from qa.scorer import FEATURES, SCORER_FILE, Scorer, ScorerMissing, fit_listwise, fit_logistic
from tests.conftest import ROOT


def test_the_fit_finds_the_feature_that_separates_and_its_probabilities_are_calibrated():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3))
    p = 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0)))  # only the first feature matters
    y = (rng.random(4000) < p).astype(float)
    weights, bias = fit_logistic(x, y, l2=1.0)
    assert weights[0] == pytest.approx(2.0, abs=0.25) and bias == pytest.approx(-1.0, abs=0.2)
    assert np.abs(weights[1:]).max() < 0.15


def test_the_listwise_fit_recovers_the_score_that_chose_each_questions_answer():
    """Questions whose answer (or "no answer", logit 0) was drawn from a softmax of 2·x0 − 1 over their
    candidates: the fit finds that score and nothing in the other features."""
    rng = np.random.default_rng(0)
    groups = []
    for _ in range(2000):
        rows = rng.normal(size=(8, 3))
        p = np.exp(np.r_[0.0, 2 * rows[:, 0] - 1])
        chosen = rng.choice(9, p=p / p.sum())
        labels = np.zeros(8)
        if chosen:
            labels[chosen - 1] = 1.0
        groups.append((rows, labels))
    weights, bias = fit_listwise(groups, l2=1.0)
    assert weights[0] == pytest.approx(2.0, abs=0.2) and bias == pytest.approx(-1.0, abs=0.2)
    assert np.abs(weights[1:]).max() < 0.15


def test_the_shipped_scorer_loads_and_names_the_reranker_it_was_fitted_with():
    scorer = Scorer.load()
    assert scorer.answer.names == FEATURES and "reader" not in scorer.shortlist.names
    assert 0 < scorer.threshold < 1
    recipe = json.loads((SCORER_FILE.parent / "reranker.json").read_text())
    assert scorer.recipe["reranker_sha256"] == recipe["sha256"]
    assert scorer.answer.weights[FEATURES.index("reader")] > 0  # the reader's logit counts for an answer


def test_a_damaged_or_missing_scorer_is_refused_in_one_sentence(tmp_path):
    body = json.loads(SCORER_FILE.read_text())
    body["answer"]["weights"]["reader"] += 0.5  # a number changed by hand
    damaged = tmp_path / "scorer.json"
    damaged.write_text(json.dumps(body))
    with pytest.raises(ScorerMissing, match="is damaged"):
        Scorer.load(damaged)
    with pytest.raises(ScorerMissing, match="train-scorer"):
        Scorer.load(tmp_path / "none.json")
    shutil.copy(SCORER_FILE, tmp_path / "copy.json")
    assert Scorer.load(tmp_path / "copy.json").threshold == Scorer.load().threshold


def forms(question: str) -> list[str]:
    """The same question typed other ways: case, a trailing "?", "." or "!", spaces around it."""
    bare = question.strip().rstrip("?.!")
    return [bare.lower(), bare.upper(), f"  {bare}?  ", f"{bare.lower()}.", f"{bare}!"]


def test_the_typed_alike_form_is_lower_case_without_end_marks():
    assert normal_form("  When did the Blockade start?? ") == "when did the blockade start"
    assert {normal_form(f) for f in forms("Who is Rebecca Vincent?")} == {"who is rebecca vincent"}
    # Every question of every set, the Wikipedia ones too (their index is too big to build in the
    # suite): its typings are one question to the engine, which reads only this form (the test below).
    for path in [*SETS, ROOT / "eval" / "wiki_tune.jsonl", ROOT / "eval" / "wiki_report.jsonl"]:
        for q in load_questions(path):
            assert len({normal_form(f) for f in [q.question, *forms(q.question)]}) == 1, q.question


SETS = [
    QUESTIONS_FILE,
    HOLDOUT_FILE,
    NATURAL_FILE,
    ROOT / "eval" / "visitors_tune.jsonl",
    ROOT / "eval" / "visitors_report.jsonl",
]


def test_every_question_of_the_sets_gets_the_same_answer_however_it_is_typed(engine):
    """Each question of the seed sets, asked as written and in five other typings: the same top quote,
    or the same refusal."""
    different, n = [], 0
    for path in SETS:
        for q in load_questions(path):
            if q.follows:
                continue
            seen = set()
            n += 1
            variants = forms(q.question)
            for typed in [q.question, variants[n % 5], variants[(n + 2) % 5]]:  # every form, over the questions
                answer = engine.answer(typed)
                top = answer.quotes[0] if answer.quotes else None
                seen.add((top.doc_id, top.start, top.end) if top else answer.notice)
            if len(seen) > 1:
                different.append(q.question)
    assert different == []


def test_the_scorer_command_fits_and_writes_a_loadable_scorer_on_a_tiny_slice(seed_index, encoder, tmp_path):
    """`train-scorer` end to end on four SQuAD-like paragraphs and two own questions, in seconds."""
    from eval.scorer import Data, run
    from index.build import build
    from tests.test_training_data import tiny_squad

    squad = tiny_squad(tmp_path / "squad11_dev")
    build(squad / "corpus.jsonl", tmp_path / "squad_index", encoder)
    own = tmp_path / "own.jsonl"
    own.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {
                    "id": "o1",
                    "question": "when did the blockade start",
                    "doc": "004_672af6158f85d9ce.txt",
                    "evidence": "Since December 12, 2022",
                    "answerable": True,
                    "kind": "fact",
                },
                {"id": "o2", "question": "who won the world cup", "answerable": False, "kind": "offtopic"},
            ]
        ),
        encoding="utf-8",
    )
    wiki = tmp_path / "wiki.jsonl"
    wiki.write_text(
        '# a tiny set\n{"id": "w1", "question": "when does the nile flood", "doc": "squad11dev-003-000", '
        '"evidence": "every summer", "answerable": true, "kind": "fact"}\n',
        encoding="utf-8",
    )
    data = Data(
        seed_index=seed_index,
        squad_index=tmp_path / "squad_index",
        squad=squad,
        skip=0,
        squad_count=2,
        removed=1,
        crossed=1,
        own=(own,),
        threshold_sets=(("seeds", own), ("wikipedia", wiki)),
    )
    said = []
    scorer = run(SCORER_FILE.parent, data, out=tmp_path / "models", say=said.append)
    assert any("3 SQuAD tuning questions (1 with their answer taken out)" in s for s in said), said
    loaded = Scorer.load(tmp_path / "models" / "scorer.json")
    assert loaded.threshold == scorer.threshold and np.isfinite(loaded.answer.weights).all()
    assert loaded.recipe["questions"]["squad_answer_removed"] == 1
    assert loaded.recipe["threshold_chosen_on"] == ["own.jsonl", "wiki.jsonl"]


def test_calibration_keeps_the_order_of_spans_and_makes_the_best_probability_the_share_answered():
    """Questions whose best span is right in proportion to its logit: after `calibrate`, the mean best
    probability matches the share answered right, and the spans of a question keep their order."""
    from eval.scorer import Asked, calibrate
    from qa.scorer import Linear

    rng = np.random.default_rng(1)
    asked = []
    for _ in range(3000):
        rows = rng.normal(size=(4, len(FEATURES)))
        logits = 3.0 * rows[:, 0]  # an over-confident model: the truth is sigmoid(logit / 3 - 0.5)
        top = int(np.argmax(logits))
        labels = np.zeros(4)
        labels[top] = float(rng.random() < 1 / (1 + np.exp(-(logits[top] / 3 - 0.5))))
        asked.append(Asked("squad", "squad", "q", rows, labels, [(0, 1)] * 4))
    model = Linear(FEATURES, np.array([3.0] + [0.0] * (len(FEATURES) - 1)), 0.0)
    calibrated = calibrate(model, asked)
    best = np.array([calibrated.probability(a.rows).max() for a in asked])
    right = np.array([a.labels.max() for a in asked])
    assert best.mean() == pytest.approx(right.mean(), abs=0.02)
    assert calibrated.weights[0] == pytest.approx(1.0, abs=0.15) and calibrated.bias == pytest.approx(-0.5, abs=0.15)
    rows = asked[0].rows
    assert (np.argsort(calibrated.logit(rows)) == np.argsort(model.logit(rows))).all()
