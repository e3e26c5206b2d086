"""BM25 over the passages' tokens as a sparse matrix: per term its idf and its postings.

The formulas are rank-bm25's (BM25Plus, BM25Okapi with its idf floor, BM25L), evaluated once at build
time: each posting holds a term's score in a passage before the idf factor (for BM25Plus without the
constant delta every passage gets), so a question's scores are a sum over its terms' postings. The
arrays are written beside the rest of the index and memory-mapped: loading reads no tokens, and a
question reads only its terms' postings. The vocabulary is sorted, so a term is found by bisection.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.tables import StringTable, open_array

VARIANTS = ("BM25Plus", "BM25Okapi", "BM25L")
OKAPI_EPSILON = 0.25  # rank-bm25's default: a negative Okapi idf becomes this share of the average idf


def idf_values(variant: str, df: np.ndarray, n: int) -> np.ndarray:
    """rank-bm25's idf of each term for `variant`, from its document frequency `df` over `n` passages."""
    df = df.astype(np.float64)
    if variant == "BM25Plus":
        return np.log((n + 1) / df)
    if variant == "BM25L":
        return np.log(n + 1) - np.log(df + 0.5)
    idf = np.log(n - df + 0.5) - np.log(df + 0.5)
    if len(idf):
        idf = np.where(idf < 0, OKAPI_EPSILON * idf.mean(), idf)
    return idf


class BM25Index:
    def __init__(
        self,
        vocabulary: Sequence[str],
        idf: np.ndarray,
        offsets: np.ndarray,
        passages: np.ndarray,
        shares: np.ndarray,
        corpus_size: int,
        delta: float,
    ) -> None:
        self.vocabulary = vocabulary
        self.idf_array = idf
        self.offsets = offsets
        self.passages = passages
        self.shares = shares
        self.corpus_size = corpus_size
        self.delta = delta
        self.highest_idf = float(np.max(idf)) if len(idf) else 0.0
        self.idf = Idf(self)
        self.term_id = lru_cache(maxsize=4096)(self._term_id)

    @classmethod
    def from_tokens(
        cls,
        tokens: Sequence[list[str]],
        variant: str = "BM25Plus",
        k1: float = 1.2,
        b: float = 0.75,
        delta: float = 1.0,
    ) -> BM25Index:
        if not tokens:
            raise ValueError("BM25 needs at least one passage")
        if variant not in VARIANTS:
            raise ValueError(f"unknown BM25 variant {variant!r}; choose one of {sorted(VARIANTS)}")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        # rank-bm25 divides by the average length: an empty passage gets one dummy token.
        tokens = [t if t else ["\0"] for t in tokens]
        vocabulary = sorted({t for passage in tokens for t in passage})
        number = {t: i for i, t in enumerate(vocabulary)}
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        n = len(tokens)
        terms = np.fromiter(
            (number[t] for passage in tokens for t in passage), dtype=np.int64, count=int(lengths.sum())
        )
        owners = np.repeat(np.arange(n, dtype=np.int64), lengths)
        # One entry per (term, passage), sorted by term then passage, with how often the term occurs there.
        pairs, counts = np.unique(terms * n + owners, return_counts=True)
        term, passage = pairs // n, pairs % n
        df = np.bincount(term, minlength=len(vocabulary))
        norm = 1 - b + b * lengths[passage] / (lengths.sum() / n)
        counts = counts.astype(np.float64)
        if variant == "BM25L":
            ctd = counts / norm
            shares = counts * (k1 + 1) * (ctd + delta) / (k1 + ctd + delta)
        else:  # BM25Okapi, and BM25Plus less its delta
            shares = counts * (k1 + 1) / (counts + k1 * norm)
        offsets = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(df)
        return cls(
            vocabulary,
            idf_values(variant, df, n),
            offsets,
            passage.astype(np.int32),
            shares,
            n,
            delta if variant == "BM25Plus" else 0.0,
        )

    def write(self, folder: Path) -> None:
        StringTable.write(folder, "bm25.vocabulary", self.vocabulary)
        for name, array in (
            ("idf", self.idf_array),
            ("offsets", self.offsets),
            ("passages", self.passages),
            ("shares", self.shares),
        ):
            np.save(folder / f"bm25.{name}.npy", array, allow_pickle=False)
        (folder / "bm25.json").write_text(json.dumps({"passages": self.corpus_size, "delta": self.delta}))

    @classmethod
    def open(cls, folder: Path) -> BM25Index:
        about = json.loads((folder / "bm25.json").read_text(encoding="utf-8"))
        vocabulary = StringTable.open(folder, "bm25.vocabulary")
        arrays = [open_array(folder / f"bm25.{name}.npy") for name in ("idf", "offsets", "passages", "shares")]
        if not len(vocabulary) == len(arrays[0]) == len(arrays[1]) - 1 or arrays[1][-1] != len(arrays[2]):
            raise ValueError("the BM25 arrays do not match")
        return cls(vocabulary, *arrays, about["passages"], about["delta"])

    def _term_id(self, term: str) -> int | None:
        at = bisect_left(self.vocabulary, term)
        return at if at < len(self.vocabulary) and self.vocabulary[at] == term else None

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The passages holding `term` and its score in each before the idf factor; None when none does."""
        i = self.term_id(term)
        if i is None:
            return None
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.passages[lo:hi], self.shares[lo:hi]


class Idf:
    """The idf of the corpus's terms, read like a dict: `term in idf`, `idf[term]`, `idf.get(term)`."""

    def __init__(self, index: BM25Index) -> None:
        self.index = index

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.index.term_id(term) is not None

    def __getitem__(self, term: str) -> float:
        i = self.index.term_id(term)
        if i is None:
            raise KeyError(term)
        return float(self.index.idf_array[i])

    def get(self, term: str, default=None):
        return self[term] if term in self else default

    def __len__(self) -> int:
        return len(self.index.vocabulary)
