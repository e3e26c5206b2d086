"""The vector indexes of a build: exact (flat) below a size, approximate (HNSW) above it.

A flat inner-product search reads every vector: on 2 cores about 0.13 ms per 1,000 vectors of 384
dimensions, so 117,659 sentences cost 16 ms a search and 2.5 million would cost about 330 ms. FAISS's
HNSW graph finds the nearest vectors by walking a graph instead, in a few milliseconds at a million.
The graph holds the vectors as 8-bit codes (384 bytes each instead of 1,536), so a million passages
and their sentences fit in a few GB, and its candidates are re-scored with the exact vectors
(`GraphSearch`). `auto` uses flat below `ANN_THRESHOLD` vectors, where it is fast enough and exact.
The kind of each index is recorded in the manifest; `python -m eval ann` measures the settings. The
vectors themselves are always stored as a `.npy` array beside it: a flat search reads that array
mapped (`FlatSearch`, no copy in memory), the graph's re-scoring reads the rows of its candidates.
"""

from __future__ import annotations

import faiss
import numpy as np

KINDS = ("flat", "ann", "auto")
ANN_THRESHOLD = 200_000  # vectors; below it a flat search costs under ~25 ms on 2 cores
HNSW_M = 32  # graph neighbours per vector
EF_CONSTRUCTION = 200
# Candidates kept while searching, wider for a larger graph: recall against speed (the measurements
# behind these settings: docs/index-format.md and eval/EXPERIMENTS.md).
TRAIN_SAMPLE = 100_000  # vectors the 8-bit quantiser learns each dimension's range from
EF_SEARCH = 256
EF_SEARCH_LARGE = 1024
LARGE = 300_000


def chosen(kind: str, count: int, threshold: int = ANN_THRESHOLD) -> str:
    """The kind of index to build for `count` vectors: "flat" or "ann"."""
    if kind not in KINDS:
        raise ValueError(f"the vector index must be one of {', '.join(KINDS)}")
    if kind == "auto":
        return "ann" if count >= threshold else "flat"
    return kind


def vector_index(vectors: np.ndarray, dimension: int, kind: str = "flat") -> faiss.Index:
    """An inner-product index over unit `vectors`: flat, or an HNSW graph over the vectors quantised to
    8 bits per dimension (a quarter of their memory; `GraphSearch` re-scores what it finds exactly)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if kind == "ann" and len(vectors):
        index = faiss.IndexHNSWSQ(dimension, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.train(vectors[np.random.default_rng(0).permutation(len(vectors))[:TRAIN_SAMPLE]])
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(vectors)
    tune(index)
    return index


def tune(index: faiss.Index) -> faiss.Index:
    """Search settings, which FAISS does not keep in the file: a wider search for a larger graph."""
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = EF_SEARCH_LARGE if index.ntotal >= LARGE else EF_SEARCH
    return index


class FlatSearch:
    """Exact inner-product search over a (memory-mapped) array of unit vectors, shaped like a FAISS index:
    `search(queries, k)` gives (scores, ids), best first, for each query."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.ntotal = len(vectors)
        self.d = vectors.shape[1]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.ntotal)
        scores = np.asarray(queries, dtype=np.float32) @ self.vectors.T  # [queries, vectors]
        ids = (
            np.argpartition(-scores, k - 1, axis=1)[:, :k]
            if k < self.ntotal
            else np.tile(np.arange(k), (len(scores), 1))
        )
        picked = np.take_along_axis(scores, ids, axis=1)
        order = np.lexsort((ids, -picked), axis=1)  # best first, ties by id
        return np.take_along_axis(picked, order, axis=1), np.take_along_axis(ids, order, axis=1).astype(np.int64)


class GraphSearch:
    """An HNSW graph's search, its candidates re-scored with the exact (memory-mapped) vectors: the graph
    compares 8-bit codes, so it is asked for twice as many as wanted and the exact scores pick and
    order them. Shaped like `FlatSearch`."""

    def __init__(self, index: faiss.Index, vectors: np.ndarray) -> None:
        self.index = index
        self.vectors = vectors
        self.hnsw = index.hnsw
        self.ntotal = index.ntotal
        self.d = index.d

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.ntotal)
        wide = min(self.ntotal, 2 * k)
        _, found = self.index.search(queries, wide)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, candidates) in enumerate(zip(queries, found, strict=True)):
            candidates = np.unique(candidates[candidates >= 0])  # sorted: the rows are read in file order
            exact = np.asarray(self.vectors[candidates]) @ query
            best = np.lexsort((candidates, -exact))[:k]
            scores[row, : len(best)], ids[row, : len(best)] = exact[best], candidates[best]
        return scores, ids
