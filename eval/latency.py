"""Speed of one index: how long the engine takes to load, and each question's answer time by stage.

For corpora without a question set of their own (the Python docs or WordNet corpora that
`../shared/datasets/scripts/get_debian_corpora.sh` rebuilds): any questions will do, since only the
time is measured. Each question is answered once, after a warm-up question, with the per-question
caches empty, as a new question from a user would be.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np

from eval.metrics import percentile

STAGES = ("encode", "retrieve", "candidates", "rerank", "total")


def read_questions(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    questions = [line for line in lines if line and not line.startswith("#")]
    if not questions:
        raise ValueError(f"{path} holds no questions (one per line)")
    return questions


def memory_mb() -> dict[str, float]:
    """This process's resident memory now, split into anonymous memory (Python objects, arrays made in
    memory, models) and file pages (the memory-mapped index, shared with the page cache), and its peak."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return {
        "rss_mb": fields.get("VmRSS", float("nan")),
        "anon_mb": fields.get("RssAnon", float("nan")),
        "file_mb": fields.get("RssFile", float("nan")),
        "peak_mb": fields.get("VmHWM", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def ann_recall(engine, questions: list[str], k: int = 10, limit: int = 100) -> dict[str, float]:
    """Recall@k of each approximate vector index against an exact search of the same stored vectors,
    with the questions' vectors as queries ({} when every index is flat)."""
    from index.vector_index import FlatSearch

    stored = engine.stored
    parts = {"passages": (stored.passage_index, stored.passage_vectors)}
    parts["sentences"] = (stored.sentence_index, stored.sentence_vectors)
    parts = {name: pair for name, pair in parts.items() if not isinstance(pair[0], FlatSearch)}
    if not parts:
        return {}
    queries = np.stack([engine.encode(q) for q in questions[:limit]]).astype(np.float32)
    found = {}
    for name, (approximate, vectors) in parts.items():
        _, got = approximate.search(queries, k)
        _, want = FlatSearch(np.asarray(vectors)).search(queries, k)
        found[name] = float(np.mean([len(set(g) & set(w)) / k for g, w in zip(got, want, strict=True)]))
    return found


def measure(
    index: Path, questions: list[str], recall: bool = True, models: Path | None = None, threads: int | None = None
) -> dict:
    from index.errors import BadQuestion
    from qa.engine import Engine
    from qa.settings import Settings

    started = time.perf_counter()
    engine = Engine.load(Settings.from_env(index=index, models=models, threads=threads))
    loaded = time.perf_counter() - started
    engine.warm_up()
    warm = time.perf_counter() - started - loaded
    timings = []
    for question in questions:
        engine.forget()
        try:
            answer = engine.answer(question)
        except BadQuestion:  # over-long or symbols only: refused before any search
            continue
        if answer.timings_ms:  # a question in another script, or with nothing to look for, is not searched
            timings.append(answer.timings_ms)
    memory = memory_mb()  # before the exact searches of `ann_recall` read every vector
    counts = engine.stored.manifest["counts"]
    rows = {}
    for stage in STAGES:
        values = [t[stage] for t in timings]
        rows[stage] = (percentile(values, 50), percentile(values, 95), max(values, default=float("nan")))
    return {
        "documents": counts["documents"],
        "passages": counts["passages"],
        "sentences": counts["sentences"],
        "vector_index": engine.stored.manifest.get("vector_index"),
        "questions": len(questions),
        "timed": len(timings),
        "threads": engine.settings.threads or len(os.sched_getaffinity(0)),
        "load_s": loaded,
        "warm_up_s": warm,
        **memory,
        "max_rss_mb": memory["peak_mb"],
        "stages_ms": rows,
        "ann_recall_at_10": ann_recall(engine, questions) if recall else {},
    }
