"""The evaluation question set: loading it and locating each evidence span in its document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

QUESTIONS_FILE = Path(__file__).with_name("questions.jsonl")
# Written after the weights were chosen, and never tuned on: an honest check of the question set's figures.
HOLDOUT_FILE = Path(__file__).with_name("holdout.jsonl")
# Short questions asked the way a visitor who has not read the documents would ask them, written on
# 2026-11-30 before any of their answers was seen, and never tuned on (README, "The question set").
NATURAL_FILE = Path(__file__).with_name("natural.jsonl")
KINDS = ("fact", "paraphrase", "followup", "absent", "offtopic")


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answerable: bool
    kind: str
    doc: str | None = None  # document id holding the evidence; None for unanswerable questions
    # verbatim text of the document that answers the question, or a list of such texts any of which does
    # (a vague question, "what should be done about it", has several right answers)
    evidence: str | list[str] | None = None
    follows: str | None = None  # id of the question a follow-up refers to


def load_questions(path: Path = QUESTIONS_FILE) -> list[EvalQuestion]:
    questions, earlier = [], set()  # the ids of the questions read so far
    if not Path(path).is_file():
        raise ValueError(f"There is no question file at {path}; pass --questions with a JSONL file of questions.")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith("#"):  # a set's header says who wrote it and from what
                continue
            try:
                question = EvalQuestion(**json.loads(line))
            except (ValueError, TypeError) as exc:  # not JSON, a field missing or unknown
                raise ValueError(
                    f"{path}:{number}: a question is one JSON object with id, question, answerable, kind "
                    f"(and doc, evidence, follows) ({exc})"
                ) from None
            if question.kind not in KINDS:
                raise ValueError(f"{path}:{number}: kind must be one of {', '.join(KINDS)}")
            if isinstance(question.evidence, list) and not all(isinstance(e, str) and e for e in question.evidence):
                raise ValueError(f"{path}:{number}: evidence is a text or a list of texts")
            if question.answerable != (question.evidence is not None and question.doc is not None):
                raise ValueError(f"{path}:{number}: an answerable question needs doc and evidence, others neither")
            if question.id in earlier:
                raise ValueError(f"{path}:{number}: the id {question.id!r} is used by an earlier question")
            if question.follows is not None and question.follows not in earlier:
                raise ValueError(
                    f"{path}:{number}: follows {question.follows!r}, which is not the id of an earlier question"
                )
            questions.append(question)
            earlier.add(question.id)
    return questions


def evidence_spans(text: str, evidence: str | list[str]) -> list[tuple[int, int]]:
    """Every place the evidence (or any of its alternatives) occurs in the document: a quote holding any
    of them holds the answer ("UN General Assembly Resolution 2625 (XXV)" is named twice in the
    article). Empty when absent."""
    spans = []
    for wanted in [evidence] if isinstance(evidence, str) else evidence:
        start = text.find(wanted)
        while wanted and start >= 0:
            spans.append((start, start + len(wanted)))
            start = text.find(wanted, start + 1)
    return spans


def first_evidence(evidence: str | list[str]) -> str:
    """The evidence text token F1 is measured against: the first alternative."""
    return evidence if isinstance(evidence, str) else evidence[0]


def unfindable(questions: list[EvalQuestion], texts: dict[str, str]) -> list[str]:
    """A sentence for each answerable question that no quote could ever count for: its document is not in
    the index (`texts`: doc_id -> text), or its evidence is not in that document's text (a typo, a curly
    quote typed straight). Such a question is scored as a miss whatever is answered."""
    said = []
    records = {d.rsplit("#", 1)[1]: d for d in texts if "#" in d}  # a record named by its own id
    for q in questions:
        if not q.answerable:
            continue
        doc = records.get(q.doc, q.doc)
        if doc not in texts:
            said.append(f"{q.id}: the index has no document {q.doc}; it can only count as a miss.")
        elif not evidence_spans(texts[doc], q.evidence):
            said.append(
                f"{q.id}: its evidence {q.evidence!r} is not in the text of {q.doc}; it can only count as a miss "
                "(check it against the document)."
            )
    return said
