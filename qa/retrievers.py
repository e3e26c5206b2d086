"""Retrievers over passages. Each has one shape: checked settings in, `retrieve(query, k)` out.

- `BM25Retriever`: BM25Plus over the index's postings (`index.bm25`: rank-bm25's formulas, evaluated at
  build time). BM25Plus, not Okapi: its idf, log((N + 1) / df), stays positive for every term, whereas
  Okapi's is 0 for a term in half the passages and negative above that, which on a corpus of a few
  dozen passages silences the words a question is about ("Azerbaijan" here). Passages that share no
  term with the query are not returned. A question term the corpus lacks counts through its synonyms
  (`index.wordnet`): a passage scores for it as for the best of them, times `synonym_weight`.
- `DenseRetriever`: FAISS inner product over normalised passage vectors (cosine similarity).
- `SentenceDenseRetriever`: FAISS over sentence vectors; each passage scores as its best sentence, so a
  passage with one sentence on the question is found even when the rest is about something else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Protocol

import faiss
import numpy as np

from index.bm25 import BM25Index
from index.tokenize import tokenize
from qa.types import Hit


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
        self,
        index: BM25Index,
        synonyms: Mapping[str, list[str]] | None = None,
        synonym_weight: float = 0.8,
    ) -> None:
        if not 0 <= synonym_weight <= 1:
            raise ValueError("synonym_weight must be between 0 and 1")
        self.index = index
        self.idf = index.idf
        self.synonyms = synonyms or {}
        self.synonym_weight = synonym_weight
        self._cached = lru_cache(maxsize=8)(self._score_text)

    @classmethod
    def from_tokens(cls, tokens: list[list[str]], *bm25, synonyms=None, synonym_weight: float = 0.8) -> BM25Retriever:
        """Over passages' tokens in memory (`BM25Index.from_tokens(tokens, *bm25)`): for tests and tools."""
        return cls(BM25Index.from_tokens(tokens, *bm25), synonyms, synonym_weight)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """rank-bm25's `get_scores(query_tokens)`, less the share BM25Plus gives every passage for each
        query term whether it holds the term or not: a score of 0 means "no query term in the passage".
        A term the corpus lacks scores by its best synonym in each passage, times `synonym_weight`."""
        size = self.index.corpus_size
        scores = np.zeros(size)
        for term in query_tokens:  # a repeated term counts again, as in rank-bm25
            found = self.index.postings(term)
            if found is not None:
                passages, share = found
                scores[passages] += self.idf[term] * share
            elif self.synonyms.get(term) and self.synonym_weight > 0:
                best = np.zeros(size)
                for synonym in self.synonyms[term]:
                    if (found := self.index.postings(synonym)) is not None:
                        passages, share = found
                        best[passages] = np.maximum(best[passages], self.idf[synonym] * share)
                scores += self.synonym_weight * best
        return scores

    def forget(self) -> None:
        """Drop the remembered scores (a benchmark times each question as a new one)."""
        self._cached.cache_clear()

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
        # Retrieval and abstention (`Engine.confidence`) ask for the same search; over 70,000 sentences it costs 11 ms.
        self._search = lru_cache(maxsize=8)(self._search_uncached)

    def _search_uncached(self, query: str, n: int) -> list[tuple[int, float]]:
        scores, ids = self.index.search(self.encode(query)[None, :], n)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def forget(self) -> None:
        self._search.cache_clear()

    def sentences(self, query: str, k: int) -> list[tuple[int, float]]:
        """(sentence, cosine) of the sentences searched to find k passages, best first."""
        if self.index.ntotal == 0 or k <= 0:
            return []
        return self._search(query, min(k * self.fan_out, self.index.ntotal))

    def retrieve(self, query: str, k: int) -> list[Hit]:
        best: dict[int, float] = {}
        for i, s in self.sentences(query, k):
            best.setdefault(int(self.sentence_passage[i]), s)  # results come best first
        return [Hit(p, s) for p, s in list(best.items())[:k]]
