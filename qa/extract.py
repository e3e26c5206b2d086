"""Choosing the quote: pure functions from per-sentence scores to the best span of sentences.

A sentence's score mixes three signals, each in [0, 1] (the dense one in [-1, 1]):
- dense: cosine similarity of the sentence and question vectors;
- lexical: the idf-weighted share of the question's terms that the sentence contains;
- prior: how well the sentence's passage ranked in retrieval (fused score / best fused score).
A span is 1 to `max_sentences` consecutive sentences of one passage. It starts at the best sentence
and takes in a neighbour when the neighbour scores within `extend_margin` of it, or when the span is
still shorter than `min_words` (a bare "I care." says little on its own), as long as it stays within
`max_words`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpanWeights:
    dense: float = 1.0
    lexical: float = 0.35
    prior: float = 0.15

    def __post_init__(self) -> None:
        if min(self.dense, self.lexical, self.prior) < 0:
            raise ValueError("span weights must not be negative")


@dataclass(frozen=True)
class SpanRules:
    max_sentences: int = 3
    max_words: int = 70
    min_words: int = 12
    extend_margin: float = 0.05

    def __post_init__(self) -> None:
        if self.max_sentences < 1 or self.max_words < 1:
            raise ValueError("a span holds at least one sentence and one word")


@dataclass(frozen=True)
class Span:
    first: int  # sentence numbers in the index, first inclusive, last exclusive
    last: int
    score: float  # the score of its best sentence


def lexical_overlap(query_terms: list[str], sentence_terms: set[str], idf: dict[str, float]) -> float:
    """Share of the query's idf mass whose terms occur in the sentence (0 when the query has no terms)."""
    unique = set(query_terms)
    total = sum(max(idf.get(t, 0.0), 0.0) for t in unique)
    if total <= 0:
        return 0.0
    return sum(max(idf.get(t, 0.0), 0.0) for t in unique if t in sentence_terms) / total


def sentence_scores(dense: np.ndarray, lexical: np.ndarray, prior: np.ndarray, weights: SpanWeights) -> np.ndarray:
    return weights.dense * dense + weights.lexical * lexical + weights.prior * prior


def best_span(first: int, scores: np.ndarray, words: np.ndarray, rules: SpanRules) -> Span:
    """The best span of a passage whose sentences are numbered `first`, `first + 1`, … in the index.

    `scores` and `words` hold one value per sentence of the passage.
    """
    if len(scores) == 0:
        raise ValueError("a passage has at least one sentence")
    anchor = int(np.argmax(scores))
    lo, hi = anchor, anchor + 1
    total = int(words[anchor])
    while hi - lo < rules.max_sentences:
        options = []
        if lo > 0:
            options.append((scores[lo - 1], lo - 1))
        if hi < len(scores):
            options.append((scores[hi], hi))
        if not options:
            break
        score, pick = max(options)
        wanted = total < rules.min_words or score >= scores[anchor] - rules.extend_margin
        if not wanted or total + int(words[pick]) > rules.max_words:
            break
        total += int(words[pick])
        lo, hi = min(lo, pick), max(hi, pick + 1)
    return Span(first + lo, first + hi, float(scores[anchor]))


def pick_spans(spans: list[Span], k: int, min_score: float, margin: float) -> list[Span]:
    """Up to k spans, best first, none overlapping, each within `margin` of the best and >= min_score."""
    chosen: list[Span] = []
    ranked = sorted(spans, key=lambda s: -s.score)
    if not ranked:
        return chosen
    floor = max(min_score, ranked[0].score - margin)
    for span in ranked:
        if len(chosen) == k or span.score < floor:
            break
        if all(span.last <= c.first or span.first >= c.last for c in chosen):
            chosen.append(span)
    return chosen
