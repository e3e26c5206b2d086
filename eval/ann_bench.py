"""`python -m eval ann [--index DIR] [--sizes 100000 1000000]`: the approximate vector index against flat.

For each size it draws that many unit vectors near the index's real sentence vectors (a random mix of
three real vectors plus Gaussian noise, renormalised, so that a few hundred real vectors spread into a
continuum rather than into clusters of near-ties), searches them
with the eval sets' questions encoded by the index's own encoder, and prints, for flat and for HNSW
(`index.vector_index`): build time, search time per question (p50) and HNSW's recall@10 against flat.
"""

from __future__ import annotations

import time

import numpy as np

from index.vector_index import GraphSearch, chosen, vector_index

NOISE = 0.02  # per dimension: |noise| ≈ 0.02 × √384 ≈ 0.39
MIXED = 3  # real vectors mixed into each drawn one


def drawn(real: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((count, real.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        n = min(100_000, count - start)
        weights = rng.dirichlet(np.ones(MIXED), n).astype(np.float32)
        block = np.einsum("nk,nkd->nd", weights, real[rng.integers(0, len(real), (n, MIXED))])
        block += rng.normal(0, NOISE, block.shape).astype(np.float32)
        out[start : start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed_search(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, float]:
    """Results of searching one question at a time (as answering does), and the p50 in ms."""
    found, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, ids = index.search(q[None, :], k)
        times.append(time.perf_counter() - t0)
        found.append(ids[0])
    return np.array(found), float(np.median(times) * 1000)


def measure(real: np.ndarray, queries: np.ndarray, sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        vectors = drawn(real, size)
        t0 = time.perf_counter()
        flat = vector_index(vectors, vectors.shape[1], "flat")
        flat_build = time.perf_counter() - t0
        exact, flat_ms = timed_search(flat, queries)
        del flat
        t0 = time.perf_counter()
        ann = GraphSearch(vector_index(vectors, vectors.shape[1], "ann"), vectors)  # efSearch by its size
        ann_build = time.perf_counter() - t0
        approximate, ann_ms = timed_search(ann, queries)
        recall = float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approximate, exact, strict=True)]))
        rows.append(
            {
                "vectors": size,
                "auto": chosen("auto", size),
                "flat_build_s": round(flat_build, 1),
                "flat_search_ms": round(flat_ms, 2),
                "ann_build_s": round(ann_build, 1),
                "ann_search_ms": round(ann_ms, 2),
                "recall@10": round(recall, 4),
            }
        )
        print(rows[-1], flush=True)
        del ann, vectors
    return rows
