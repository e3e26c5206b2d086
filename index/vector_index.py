"""The vector indexes of a build: exact (flat) below a size, approximate (HNSW) above it.

A flat inner-product search reads every vector: on 2 cores about 0.13 ms per 1,000 vectors of 384
dimensions, so 117,659 sentences cost 16 ms a search and 2.5 million would cost about 330 ms. FAISS's
HNSW graph finds the nearest vectors by walking a graph instead, in a few milliseconds at a million,
at a recall@10 against flat of 0.96 or more with the settings below (`python -m eval ann` measures
them). `auto` uses flat below `ANN_THRESHOLD` vectors, where it is fast enough and exact. The kind of
each index is recorded in the manifest; an HNSW index keeps its vectors, so `reconstruct_n` still
gives them back (reuse on rebuild, dense scores of candidate sentences).
"""

from __future__ import annotations

import faiss
import numpy as np

KINDS = ("flat", "ann", "auto")
ANN_THRESHOLD = 200_000  # vectors; below it a flat search costs under ~25 ms on 2 cores
HNSW_M = 32  # graph neighbours per vector
EF_CONSTRUCTION = 200  # at 100,000 vectors: 29 s to build on 2 cores (80: 12 s, recall 0.92 at efSearch 256)
# Candidates kept while searching, by the index's size: recall against speed. At 100,000 vectors 256
# gives recall@10 0.97 at 0.7 ms (128: 0.95; 512: 0.99 at 1.1 ms); at 1,000,000 256 gives only 0.87,
# 512 0.93 at 2.0 ms, 1024 0.96 at 3.5 ms, 2048 0.98 at 6.4 ms (flat: 180 ms).
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
    """An inner-product index over unit `vectors`, flat or HNSW."""
    if kind == "ann":
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    tune(index)
    return index


def tune(index: faiss.Index) -> faiss.Index:
    """Search settings, which FAISS does not keep in the file: a wider search for a larger graph."""
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = EF_SEARCH_LARGE if index.ntotal >= LARGE else EF_SEARCH
    return index


def kind_of(index: faiss.Index) -> str:
    return "ann" if hasattr(index, "hnsw") else "flat"
