"""Retrievers over passages. Each has one shape: checked settings in, `retrieve(query, k)` out.

- `BM25Retriever`: rank-bm25's BM25Plus over the index's passage tokens. BM25Plus, not Okapi: its idf,
  log((N + 1) / df), stays positive for every term, whereas Okapi's is 0 for a term in half the
  passages and negative above that, which on a corpus of a few dozen passages silences the words a
  question is about ("Azerbaijan" here). Passages that share no term with the query are not returned.
- `DenseRetriever`: FAISS inner product over normalised passage vectors (cosine similarity).
- `SentenceDenseRetriever`: FAISS over sentence vectors; each passage scores as its best sentence, so a
  passage with one sentence on the question is found even when the rest is about something else.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import faiss
import numpy as np
from rank_bm25 import BM25L, BM25Okapi, BM25Plus

from index.tokenize import tokenize
from qa.types import Hit

BM25_VARIANTS = {"BM25Plus": BM25Plus, "BM25Okapi": BM25Okapi, "BM25L": BM25L}


class Retriever(Protocol):
    def retrieve(self, query: str, k: int) -> list[Hit]: ...


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (ties by index)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


class BM25Retriever:
    def __init__(
        self, tokens: list[list[str]], variant: str = "BM25Plus", k1: float = 1.2, b: float = 0.75, delta: float = 1.0
    ) -> None:
        if not tokens:
            raise ValueError("BM25 needs at least one passage")
        if variant not in BM25_VARIANTS:
            raise ValueError(f"unknown BM25 variant {variant!r}; choose one of {sorted(BM25_VARIANTS)}")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        # rank-bm25 divides by the average length: a corpus of empty passages gets one dummy token.
        tokens = [t if t else ["\0"] for t in tokens]
        kwargs = {"k1": k1, "b": b} | ({"delta": delta} if variant != "BM25Okapi" else {})
        self.variant = variant
        self.bm25 = BM25_VARIANTS[variant](tokens, **kwargs)
        self._cached = lru_cache(maxsize=8)(self._score_text)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        terms = [t for t in query_tokens if t in self.bm25.idf]
        if not terms:
            return np.zeros(self.bm25.corpus_size)
        scores = np.asarray(self.bm25.get_scores(terms), dtype=np.float64)
        # BM25Plus and BM25L as rank-bm25 computes them give every passage a constant share for each
        # query term, matched or not; remove it so a score of 0 means "no query term in the passage".
        floor = 0.0
        if self.variant == "BM25Plus":
            floor = sum(self.bm25.idf[t] * self.bm25.delta for t in terms)
        elif self.variant == "BM25L":
            k1, delta = self.bm25.k1, self.bm25.delta
            floor = sum(self.bm25.idf[t] * (k1 + 1) * delta / (k1 + delta) for t in terms)
        return scores - floor

    def query_scores(self, query: str) -> np.ndarray:
        """`scores` for a question's text, remembered for the last few questions: retrieval and quote
        scoring both need them, and on a large corpus one pass costs as much as encoding the question."""
        return self._cached(query)

    def _score_text(self, query: str) -> np.ndarray:
        scores = self.scores(tokenize(query))
        scores.flags.writeable = False
        return scores

    def retrieve(self, query: str, k: int) -> list[Hit]:
        scores = self.query_scores(query)
        return [Hit(int(i), float(scores[i])) for i in top_k(scores, k) if scores[i] > 1e-9]


class DenseRetriever:
    def __init__(self, index: faiss.Index, encode: Callable[[str], np.ndarray]) -> None:
        self.index = index
        self.encode = encode

    def retrieve(self, query: str, k: int) -> list[Hit]:
        if self.index.ntotal == 0 or k <= 0:
            return []
        scores, ids = self.index.search(self.encode(query)[None, :], min(k, self.index.ntotal))
        return [Hit(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


class SentenceDenseRetriever:
    def __init__(
        self, index: faiss.Index, sentence_passage: np.ndarray, encode: Callable[[str], np.ndarray], fan_out: int = 3
    ) -> None:
        if fan_out < 1:
            raise ValueError("fan_out must be at least 1")
        self.index = index
        self.sentence_passage = sentence_passage
        self.encode = encode
        self.fan_out = fan_out

    def retrieve(self, query: str, k: int) -> list[Hit]:
        if self.index.ntotal == 0 or k <= 0:
            return []
        scores, ids = self.index.search(self.encode(query)[None, :], min(k * self.fan_out, self.index.ntotal))
        best: dict[int, float] = {}
        for i, s in zip(ids[0], scores[0], strict=True):
            if i >= 0:
                passage = int(self.sentence_passage[i])
                best.setdefault(passage, float(s))  # results come best first
        return [Hit(p, s) for p, s in list(best.items())[:k]]
