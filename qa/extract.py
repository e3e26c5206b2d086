"""Choosing the quote: pure functions from per-sentence scores to the best span of sentences.

A sentence's score mixes seven signals, each in [0, 1] (the cosines in [-1, 1]):
- dense: cosine similarity of the sentence and question vectors;
- pieces: for each content word piece of the question, its best cosine with a word piece of the
  sentence (the model's contextual vectors), averaged over the question's pieces. One vector per
  sentence blurs a long sentence; piece by piece, "kids" still meets "children" and "foes" "enemy";
- passage: cosine similarity of the sentence's passage and the question (context the sentence lacks);
- lexical: the idf-weighted share of the question's terms that the sentence contains;
- prior: how well the sentence's passage ranked in retrieval (fused score / best fused score);
- keywords: the passage's BM25 score over the best BM25 score among the candidates (reciprocal rank
  fusion keeps only ranks; this keeps how far ahead a passage is on the question's words);
- answer type: 1 when the sentence holds the kind of answer the question asks for (a date for "when").
The weights were chosen by grid search on the eval/ question set and the SQuAD tuning half
(articles 000-023), as a compromise: SQuAD rewards the lexical signals, paraphrases punish them.
A softmax ranker over 14 features (neighbours and novelty among them), fitted on articles 000-015,
gained 1 to 2 points on articles 016-023 and nothing on the eval set, so the simple mix stays.
Word pieces (weight 2, with the sentence cosine down from 1 to 0.5) took the top quote from 0.795 to
0.815 on 1,500 questions of SQuAD's tuning half and from 0.758 to 0.768 on the eval set; ranking the
eval set's evidence sentences by cosine plus piece match alone puts them first for 0.74 of the fact
questions (cosine alone: 0.60) and 0.64 of the paraphrases (0.48).
A span's `relevance` is the cosine of its best sentence alone: abstention looks at that, because the
mixed score rewards shared words even when the question is about something else.
A span is 1 to `max_sentences` consecutive sentences of one passage. It starts at the best sentence
and takes in a neighbour when the neighbour scores within `extend_margin` of it, or when the span is
still shorter than `min_words`, as long as it stays within `max_words`. A bare "I care." says little
on its own: on 1,500 questions of SQuAD's tuning half, growing spans to at least 30 words (margin 0.2)
put the answer in the top quote for 0.783 of questions against 0.745 at 12 words (margin 0.05), with
the median quote going from 28 to 42 words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpanWeights:
    dense: float = 0.5
    pieces: float = 2.0
    passage: float = 0.75
    lexical: float = 0.5
    prior: float = 0.2
    keywords: float = 0.2
    answer_type: float = 0.2

    def __post_init__(self) -> None:
        if min(self.dense, self.pieces, self.passage, self.lexical, self.prior, self.keywords, self.answer_type) < 0:
            raise ValueError("span weights must not be negative")


@dataclass(frozen=True)
class SpanRules:
    max_sentences: int = 3
    max_words: int = 70
    min_words: int = 30
    extend_margin: float = 0.2

    def __post_init__(self) -> None:
        if self.max_sentences < 1 or self.max_words < 1:
            raise ValueError("a span holds at least one sentence and one word")


@dataclass(frozen=True)
class Span:
    first: int  # sentence numbers in the index, first inclusive, last exclusive
    last: int
    score: float  # the mixed score of its best sentence
    relevance: float  # the cosine of the question and its best sentence


def lexical_overlap(query_terms: list[str], sentence_terms: set[str], idf: dict[str, float]) -> float:
    """Share of the query's idf mass whose terms occur in the sentence (0 when the query has no terms)."""
    unique = set(query_terms)
    total = sum(max(idf.get(t, 0.0), 0.0) for t in unique)
    if total <= 0:
        return 0.0
    return sum(max(idf.get(t, 0.0), 0.0) for t in unique if t in sentence_terms) / total


def token_match(query: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per sentence, the mean over the question's piece vectors of their best cosine with the sentence's.

    `rows` stacks the piece vectors of several sentences, `counts[i]` of them for sentence i. A sentence
    or a question without content pieces scores 0.
    """
    out = np.zeros(len(counts), dtype=np.float64)
    present = np.flatnonzero(counts)
    if len(query) == 0 or len(present) == 0:
        return out
    starts = (np.cumsum(counts) - counts)[present]
    # einsum rather than `query @ rows.T`: a matrix product wakes OpenBLAS's threads, which then spin
    # beside torch's on this 2-core machine and slowed the next question's encoding from 12 to 25 ms.
    similarity = np.einsum("qd,rd->qr", query, rows)
    best = np.maximum.reduceat(similarity, starts, axis=1)  # [question pieces, sentences with pieces]
    out[present] = best.mean(axis=0)
    return out


@dataclass(frozen=True)
class PassageSignals:
    """What a sentence inherits from its passage."""

    cosine: float  # passage vector . question vector
    prior: float  # fused retrieval score / best fused score among the candidates
    keywords: float  # BM25 score / best BM25 score among the candidates (0 when none matched)


def sentence_scores(
    dense: np.ndarray,
    pieces: np.ndarray,
    lexical: np.ndarray,
    typed: np.ndarray,
    passage: PassageSignals,
    weights: SpanWeights,
) -> np.ndarray:
    return (
        weights.dense * dense
        + weights.pieces * pieces
        + weights.lexical * lexical
        + weights.answer_type * typed
        + weights.passage * passage.cosine
        + weights.prior * passage.prior
        + weights.keywords * passage.keywords
    )


def best_span(first: int, scores: np.ndarray, dense: np.ndarray, words: np.ndarray, rules: SpanRules) -> Span:
    """The best span of a passage whose sentences are numbered `first`, `first + 1`, … in the index.

    `scores`, `dense` (question-sentence cosines) and `words` hold one value per sentence of the passage.
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
    return Span(first + lo, first + hi, float(scores[anchor]), float(dense[anchor]))


def pick_spans(spans: list[Span], k: int, min_relevance: float, margin: float) -> list[Span]:
    """Up to k spans, best score first, none overlapping, each with relevance >= `min_relevance` and a
    score within `margin` of the best kept span's."""
    chosen: list[Span] = []
    ranked = [s for s in sorted(spans, key=lambda s: -s.score) if s.relevance >= min_relevance]
    for span in ranked:
        if len(chosen) == k or span.score < ranked[0].score - margin:
            break
        if all(span.last <= c.first or span.first >= c.last for c in chosen):
            chosen.append(span)
    return chosen
