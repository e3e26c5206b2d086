"""Embedding as a Ray Data job: `python -m index build --ray [ADDRESS]`.

The texts to embed (those no cache holds) become a Ray dataset of (key, text) rows; `workers` actors,
each loading the model once with its share of the cores, embed batches of it; the build reads the
results as they stream back and writes each batch to its shards (`index.build.Shards`) at once, so a
killed build resumes here too. Without an address Ray is started on this machine for the build and
stopped after it; with one (`ray://host:10001` or `host:6379`) the job runs on that cluster, whose
workers need this project installed. The vectors are the plain build's: the same model and code embed
them, only in other batches (a test checks they agree to 1e-6).

Ray is an optional extra (`pip install -e '.[scale]'`).
"""

from __future__ import annotations

import os

import numpy as np

BATCH = 256  # texts per batch an actor embeds


class _Embedder:
    """A Ray actor: the model, loaded once, on `threads` threads."""

    def __init__(self, model: str, threads: int, with_tokens: bool) -> None:
        import torch

        from index.embed import Encoder

        torch.set_num_threads(threads)
        self.encoder = Encoder(model=model)
        self.with_tokens = with_tokens

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from index.store import quantize

        texts = [str(t) for t in batch["text"]]
        out = {"key": batch["key"]}
        if self.with_tokens:
            vectors, tokens = self.encoder.encode_tokens(texts)
            packed = [quantize(t) for t in tokens]
            out["codes"] = np.array([c.tobytes() for c, _ in packed], dtype=object)
            out["scales"] = np.array([s.astype(np.float32).tobytes() for _, s in packed], dtype=object)
        else:
            vectors = self.encoder.encode(texts)
        out["vector"] = np.asarray(vectors, dtype=np.float32)
        return out


def embed_on_ray(
    missing: list[tuple[str, str]],
    model: str,
    dimension: int,
    with_tokens: bool,
    address: str | None,
    workers: int,
    on_batch,
) -> None:
    """Embed `missing` (key, text) pairs on Ray; `on_batch(keys, entries)` gets each batch as it is done,
    entries shaped as `index.build._embed_cached` stores them."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        cores = len(os.sched_getaffinity(0))
        options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=cores, **options)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)) // workers)
        rows = [{"key": k, "text": t} for k, t in missing]
        dataset = ray.data.from_items(rows).map_batches(
            _Embedder,
            fn_constructor_kwargs={"model": model, "threads": cpus, "with_tokens": with_tokens},
            batch_size=BATCH,
            concurrency=workers,
            num_cpus=cpus,
            batch_format="numpy",
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            keys = [str(k) for k in batch["key"]]
            vectors = batch["vector"]
            if with_tokens:
                entries = []
                for i in range(len(keys)):
                    codes = np.frombuffer(batch["codes"][i], dtype=np.int8).reshape(-1, dimension)
                    scales = np.frombuffer(batch["scales"][i], dtype=np.float32)
                    entries.append((vectors[i], (codes, scales)))
            else:
                entries = list(vectors)
            on_batch(keys, entries)
    finally:
        if started_here:
            ray.shutdown()
