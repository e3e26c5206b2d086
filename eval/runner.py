"""Running the question set through the same code path as `qa ask`, and scoring the answers.

Each question is answered once with abstention switched off (threshold -inf), keeping every quote's
score; the metrics for any abstention threshold are then computed from those scores, which is what
makes the threshold sweep cheap and exact.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from eval.metrics import covers, percentile, reciprocal_rank, token_f1
from eval.questions import EvalQuestion, evidence_spans, first_evidence
from qa.engine import Engine
from qa.followup import resolve
from qa.types import Quote


@dataclass(frozen=True)
class Result:
    question: EvalQuestion
    searched: str
    quotes: list[Quote]  # best first, before abstention
    hits: list[bool]  # per quote: does it cover the evidence?
    verbatim: list[bool]  # per quote: is it exactly the document text at its offsets?
    confidence: float  # what abstention compares with the threshold: the best span's probability
    latency_ms: float

    def kept(self, threshold: float) -> list[int]:
        """Indices of the quotes shown at this threshold (none when the system abstains): the best, and the
        others whose own probability reaches the threshold (`Engine.answer`)."""
        if self.confidence < threshold or not self.quotes:
            return []
        return [0] + [i for i in range(1, len(self.quotes)) if self.quotes[i].score >= threshold]


def run(engine: Engine, questions: list[EvalQuestion], mode: str, progress: bool = False) -> list[Result]:
    texts = {d.doc_id: d.text for d in engine.stored.documents}
    documents = record_ids(texts)
    searched: dict[str, str] = {}
    results = []
    iterator = questions
    if progress:
        from tqdm import tqdm

        iterator = tqdm(questions, desc=f"Questions ({mode})", unit="q")
    engine.encode_cached.cache_clear()  # latency is measured with the model running, not a cache
    for q in iterator:
        previous = searched.get(q.follows) if q.follows else None
        search = resolve(q.question, previous)
        started = time.perf_counter()
        answer = engine.answer(q.question, mode=mode, search=search, threshold=float("-inf"))
        latency = (time.perf_counter() - started) * 1000
        searched[q.id] = answer.searched or answer.question
        doc = documents.get(q.doc, q.doc)
        spans = evidence_spans(texts.get(doc, ""), q.evidence) if q.answerable else []
        hits = [
            quote.doc_id == doc and any(covers(quote.start, quote.end, *span) for span in spans)
            for quote in answer.quotes
        ]
        verbatim = [texts[quote.doc_id][quote.start : quote.end] == quote.text for quote in answer.quotes]
        results.append(Result(q, searched[q.id], answer.quotes, hits, verbatim, answer.confidence, latency))
    return results


def record_ids(texts: dict[str, str]) -> dict[str, str]:
    """A collection's record ids ("squad11dev-024-003") to the index's document ids
    ("corpus.jsonl#squad11dev-024-003"), so that a question set names a record by its own id."""
    return {d.rsplit("#", 1)[1]: d for d in texts if "#" in d}


def refusals(results: list[Result], threshold: float) -> dict[str, tuple[int, int]]:
    """Per kind of question (answerable, absent, off-topic): (refused, asked) at this threshold."""
    groups = {"answerable": [r for r in results if r.question.answerable]}
    groups["absent"] = [r for r in results if not r.question.answerable and r.question.kind != "offtopic"]
    groups["off-topic"] = [r for r in results if r.question.kind == "offtopic"]
    return {k: (sum(1 for r in rs if not r.kept(threshold)), len(rs)) for k, rs in groups.items()}


def summarize(results: list[Result], threshold: float) -> dict[str, float]:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    abstained = {id(r) for r in results if not r.kept(threshold)}

    def mean(values):
        values = list(values)
        return sum(values) / len(values) if values else float("nan")

    def kept_hits(r):
        return [r.hits[i] for i in r.kept(threshold)]

    top_quotes = [r.quotes[r.kept(threshold)[0]] for r in results if r.kept(threshold)]
    refused = [r for r in results if id(r) in abstained]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "hit@1": mean(1.0 if kept_hits(r)[:1] == [True] else 0.0 for r in answerable),
        "hit@3": mean(1.0 if any(kept_hits(r)[:3]) else 0.0 for r in answerable),
        "mrr": mean(reciprocal_rank(kept_hits(r)) for r in answerable),
        "f1@1": mean(
            token_f1(r.quotes[r.kept(threshold)[0]].text, first_evidence(r.question.evidence))
            if r.kept(threshold)
            else 0.0
            for r in answerable
        ),
        "median_quote_words": statistics.median(len(q.text.split()) for q in top_quotes) if top_quotes else 0,
        "verbatim": mean(v for r in results for i in r.kept(threshold) for v in [r.verbatim[i]]),
        "abstain_precision": mean(0.0 if r.question.answerable else 1.0 for r in refused),
        "abstain_recall": mean(1.0 if id(r) in abstained else 0.0 for r in unanswerable),
        "false_abstention": mean(1.0 if id(r) in abstained else 0.0 for r in answerable),
        "offtopic_abstained": mean(
            1.0 if id(r) in abstained else 0.0 for r in unanswerable if r.question.kind == "offtopic"
        ),
        "latency_p50_ms": percentile([r.latency_ms for r in results], 50),
        "latency_p95_ms": percentile([r.latency_ms for r in results], 95),
    }


def by_kind(results: list[Result], threshold: float) -> dict[str, dict[str, float]]:
    """The summary of each kind of answerable question (fact, paraphrase, follow-up) on its own."""
    kinds = dict.fromkeys(r.question.kind for r in results if r.question.answerable)
    return {k: summarize([r for r in results if r.question.kind == k], threshold) for k in kinds}


def sweep(results: list[Result], thresholds: list[float]) -> list[dict[str, float]]:
    rows = []
    for t in thresholds:
        s = summarize(results, t)
        rows.append(
            {
                "threshold": t,
                "answerable_kept": 1 - s["false_abstention"],
                "unanswerable_refused": s["abstain_recall"],
                "hit@1": s["hit@1"],
                "hit@3": s["hit@3"],
            }
        )
    return rows


def misses(results: list[Result], threshold: float) -> list[Result]:
    """Answerable questions whose top quote misses the evidence, and unanswerable ones that were answered."""
    out = []
    for r in results:
        kept = r.kept(threshold)
        if r.question.answerable and not (kept and r.hits[kept[0]]):
            out.append(r)
        elif not r.question.answerable and kept:
            out.append(r)
    return out
