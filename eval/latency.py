"""Speed of one index: how long the engine takes to load, and each question's answer time by stage.

For corpora without a question set of their own (the Python docs or WordNet corpora that
`../shared/datasets/scripts/get_debian_corpora.sh` rebuilds): any questions will do, since only the
time is measured. Each question is answered once, after a warm-up question, with the per-question
caches empty, as a new question from a user would be.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

from eval.metrics import percentile

STAGES = ("encode", "retrieve", "extract", "rerank", "total")


def read_questions(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    questions = [line for line in lines if line and not line.startswith("#")]
    if not questions:
        raise ValueError(f"{path} holds no questions (one per line)")
    return questions


def measure(index: Path, questions: list[str]) -> dict:
    from index.errors import BadQuestion
    from qa.engine import Engine
    from qa.settings import Settings

    started = time.perf_counter()
    engine = Engine.load(Settings.from_env(index=index))
    engine.warm_up()
    loaded = time.perf_counter() - started
    timings = []
    for question in questions:
        engine.forget()
        try:
            answer = engine.answer(question)
        except BadQuestion:  # over-long or symbols only: refused before any search
            continue
        if answer.timings_ms:  # a question in another script, or with nothing to look for, is not searched
            timings.append(answer.timings_ms)
    counts = engine.stored.manifest["counts"]
    rows = {}
    for stage in STAGES:
        values = [t[stage] for t in timings]
        rows[stage] = (percentile(values, 50), percentile(values, 95), max(values, default=float("nan")))
    return {
        "documents": counts["documents"],
        "passages": counts["passages"],
        "sentences": counts["sentences"],
        "questions": len(questions),
        "timed": len(timings),
        "load_s": loaded,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "stages_ms": rows,
    }
