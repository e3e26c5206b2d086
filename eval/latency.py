"""Speed of one index: how long the engine takes to load, and each question's answer time by stage.

For corpora without a question set of their own (the Python docs or WordNet corpora that
`../shared/datasets/scripts/get_debian_corpora.sh` rebuilds): any questions will do, since only the
time is measured. Each question is answered once, after a warm-up question, with the per-question
caches empty, as a new question from a user would be.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from pathlib import Path

STAGES = ("encode", "retrieve", "extract", "total")


def read_questions(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    questions = [line for line in lines if line and not line.startswith("#")]
    if not questions:
        raise ValueError(f"{path} holds no questions (one per line)")
    return questions


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]


def measure(index: Path, questions: list[str]) -> dict:
    from qa.engine import Engine
    from qa.settings import Settings

    started = time.perf_counter()
    engine = Engine.load(Settings.from_env(index=index))
    engine.warm_up()
    loaded = time.perf_counter() - started
    timings = []
    for question in questions:
        engine.forget()
        timings.append(engine.answer(question).timings_ms)
    counts = engine.stored.manifest["counts"]
    rows = {
        stage: (
            statistics.median(t[stage] for t in timings),
            percentile([t[stage] for t in timings], 0.95),
            max(t[stage] for t in timings),
        )
        for stage in STAGES
        if all(stage in t for t in timings)
    }
    return {
        "documents": counts["documents"],
        "passages": counts["passages"],
        "sentences": counts["sentences"],
        "questions": len(questions),
        "load_s": loaded,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "stages_ms": rows,
    }
