"""Candidate quotes and the evidence the scorer reads for each (`qa.scorer.FEATURES`).

A candidate is a run of 1 to `MAX_SENTENCES` consecutive sentences of one passage, at most `MAX_WORDS`
words (a single sentence always counts, however long). Pure functions: the engine gathers each
passage's sentence vectors, word pieces and terms and computes the features from them.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from dataclasses import dataclass

import numpy as np

# Quotes of one or two sentences, as the extractor before the scorer made them (the SQuAD goal asks for a
# median quote of at most 50 words); not re-measured with the learned scorer.
MAX_SENTENCES = 2
MAX_WORDS = 60
_NUMBERING = re.compile(r"^(?:\d+(?:\.\d+)+\.?|\d{1,2}\.|[ivxlc]+\.)$", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    first: int  # sentence numbers in the index, first inclusive, last exclusive
    last: int
    score: float  # the scorer's probability that the span answers the question
    relevance: float  # the cosine of the question and its best sentence


def windows(words: np.ndarray) -> list[tuple[int, int]]:
    """(lo, hi) positions of every candidate span in a passage whose sentences have `words` words."""
    n = len(words)
    return [
        (lo, hi)
        for lo in range(n)
        for hi in range(lo + 1, min(n, lo + MAX_SENTENCES) + 1)
        if hi == lo + 1 or int(words[lo:hi].sum()) <= MAX_WORDS
    ]


def numbering(text: str) -> tuple[int, int]:
    """(words that are section numbers, all words) of a text: "5.5.", "3.", "iv." count, "2022." does not.
    A table of contents ("5.5. Dictionaries 5.6. Looping Techniques 5.7.") is mostly numbers and names."""
    tokens = text.split()
    return sum(1 for t in tokens if _NUMBERING.match(t)), len(tokens)


def term_weights(query_terms: list[str], idf: Mapping[str, float], highest: float | None = None) -> dict[str, float]:
    """Each distinct question term's weight: its idf (never below 0), or the highest idf of the corpus
    (`highest`, found in `idf` when not given) when the corpus does not hold the term."""
    rarest = max(max(idf.values(), default=0.0) if highest is None else highest, 0.0)
    return {t: max(idf[t], 0.0) if t in idf else rarest for t in set(query_terms)}


def lexical_overlap(weights: dict[str, float], terms: Container[str]) -> float:
    """Share of the question's term weight whose terms occur in `terms` (0 when the question has none)."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total > 0 else 0.0


def known_share(
    weights: dict[str, float],
    idf: dict[str, float],
    synonyms: Mapping[str, list[str]] | None = None,
    synonym_weight: float = 0.0,
) -> float:
    """Share of the question's term weight (from `term_weights`) that the corpus holds: how much of the
    question BM25 can see. A term the corpus lacks but has synonyms for (`index.wordnet`) counts
    `synonym_weight` of its weight, as BM25 counts it. 0 when the question has no terms."""
    stood_in = {t for t in weights if t not in idf and synonyms and synonyms.get(t)}
    return lexical_overlap(weights, idf) + synonym_weight * lexical_overlap(weights, stood_in)


def piece_matrix(query: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[question pieces, sentences]: each question piece's best cosine with a piece of each sentence.

    `rows` stacks the piece vectors of several sentences, `counts[i]` of them for sentence i. A sentence
    without content pieces scores 0 for every question piece.
    """
    out = np.zeros((len(query), len(counts)), dtype=np.float64)
    present = np.flatnonzero(counts)
    if len(query) == 0 or len(present) == 0:
        return out
    starts = (np.cumsum(counts) - counts)[present]
    # einsum rather than `query @ rows.T`: a matrix product wakes OpenBLAS's threads, which then spin
    # beside torch's on this 2-core machine and slowed the next question's encoding from 12 to 25 ms.
    similarity = np.einsum("qd,rd->qr", query, rows)
    out[:, present] = np.maximum.reduceat(similarity, starts, axis=1)
    return out


def pick_spans(spans: list[Span], k: int, floor: float) -> list[Span]:
    """Up to k spans, most probable first, none overlapping another, each with a probability of at least
    `floor`."""
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: -s.score):
        if len(chosen) == k or span.score < floor:
            break
        if all(span.last <= c.first or span.first >= c.last for c in chosen):
            chosen.append(span)
    return chosen
