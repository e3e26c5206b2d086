"""Scoring arithmetic as pure functions: coverage, Hit@k, MRR, token F1, nDCG, recall, percentiles."""

from __future__ import annotations

import math
import re
import string
from collections import Counter


def covers(quote_start: int, quote_end: int, evidence_start: int, evidence_end: int) -> bool:
    """True when the quote's span contains the whole evidence span (same document assumed)."""
    return quote_start <= evidence_start and evidence_end <= quote_end


def first_hit_rank(hits: list[bool]) -> int | None:
    """1-based rank of the first True, or None."""
    return next((i for i, h in enumerate(hits, 1) if h), None)


def hit_at_k(hits: list[bool], k: int) -> float:
    return 1.0 if any(hits[:k]) else 0.0


def reciprocal_rank(hits: list[bool]) -> float:
    rank = first_hit_rank(hits)
    return 1.0 / rank if rank else 0.0


def _normalize(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    text = "".join(" " if c in string.punctuation or c in "“”‘–—" else c for c in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1 (lower case, punctuation and articles removed)."""
    pred, ref = _normalize(prediction), _normalize(gold)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains_answer(quote: str, answers: list[str]) -> bool:
    """SQuAD check: some gold answer appears in the quote, after normalisation."""
    haystack = " ".join(_normalize(quote))
    return any(" ".join(_normalize(a)) in haystack for a in answers if _normalize(a))


def ndcg_at_k(ranked: list[str], relevance: dict[str, int], k: int) -> float:
    """nDCG@k with graded relevance (gain = relevance, log2 discount, ranks from 1)."""
    dcg = sum(relevance.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], 1))
    ideal = sorted((r for r in relevance.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(rank + 1) for rank, r in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], relevance: dict[str, int], k: int) -> float:
    relevant = {d for d, r in relevance.items() if r > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
