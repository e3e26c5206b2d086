"""Reciprocal rank fusion, a pure function over ranked lists.

RRF (Cormack, Clarke and Büttcher, 2009): score(d) = Σ_lists weight / (k + rank(d)), ranks starting
at 1. The constant k damps the difference between the first few ranks; 60 is the published value.
"""

from __future__ import annotations

from collections import defaultdict

from qa.types import Hit

RRF_K = 60


def reciprocal_rank_fusion(rankings: list[list[Hit]], k: int = RRF_K, weights: list[float] | None = None) -> list[Hit]:
    """Fuse ranked lists (best first) into one, best first; ties keep the first list's order."""
    if k < 0:
        raise ValueError("the RRF constant k must be at least 0")
    weights = weights or [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = defaultdict(float)
    order: dict[int, int] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.index] += weight / (k + rank)
            order.setdefault(hit.index, len(order))
    return [Hit(i, s) for i, s in sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))]
