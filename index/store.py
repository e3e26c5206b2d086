"""The index directory on disk: written atomically, read back without executing anything.

Layout of `DIR` (default `var/index`):
    CURRENT                 name of the live build folder, replaced atomically when a build finishes
    build-<stamp>/
        manifest.json       format version, model and its hash, dimension, corpus file hashes,
                            counts and build parameters
        documents.jsonl     one Document per line (the cleaned text every offset points into)
        passages.jsonl      one Passage per line, with its heading context and embedding cache key
        sentences.jsonl     [document number, start, end, passage number, cache key] per line
        passages.faiss      FAISS IndexFlatIP over normalised passage vectors
        sentences.faiss     FAISS IndexFlatIP over normalised sentence vectors
        bm25.json           BM25 tokens of every passage

Nothing is pickled. A build killed before it switches CURRENT leaves the previous build live.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from index.errors import IndexMismatch, IndexNotFound
from index.types import Document, Passage, Sentence

FORMAT_VERSION = 1
POINTER = "CURRENT"
BUILD_COMMAND = "make index (or: python -m index build)"


def rebuild_command(out: Path, corpus: Path | None = None) -> str:
    """The command that (re)builds the index at `out`, as a user would type it."""
    from index.config import DEFAULT_CORPUS, DEFAULT_INDEX

    if Path(out) == DEFAULT_INDEX and corpus in (None, DEFAULT_CORPUS):
        return BUILD_COMMAND
    return f"python -m index build --corpus {corpus or '<corpus folder>'} --out {out}"


@dataclass(frozen=True)
class StoredIndex:
    manifest: dict
    documents: list[Document]
    passages: list[Passage]
    sentences: list[Sentence]
    contexts: list[str]
    passage_keys: list[str]
    sentence_keys: list[str]
    passage_index: faiss.Index
    sentence_index: faiss.Index
    bm25_tokens: list[list[str]]


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _flat_index(vectors: np.ndarray, dimension: int) -> faiss.Index:
    index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def write_index(out: Path, index: StoredIndex, passage_vectors: np.ndarray, sentence_vectors: np.ndarray) -> Path:
    """Write a complete build next to the live one, then switch CURRENT to it in one rename."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"build-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    folder = out / name
    folder.mkdir()
    doc_number = {d.doc_id: i for i, d in enumerate(index.documents)}
    _write_jsonl(folder / "documents.jsonl", (asdict(d) for d in index.documents))
    _write_jsonl(
        folder / "passages.jsonl",
        (
            {**asdict(p), "context": c, "key": k}
            for p, c, k in zip(index.passages, index.contexts, index.passage_keys, strict=True)
        ),
    )
    _write_jsonl(
        folder / "sentences.jsonl",
        (
            [doc_number[s.doc_id], s.start, s.end, s.passage, k]
            for s, k in zip(index.sentences, index.sentence_keys, strict=True)
        ),
    )
    dimension = index.manifest["model"]["dimension"]
    faiss.write_index(_flat_index(passage_vectors, dimension), str(folder / "passages.faiss"))
    faiss.write_index(_flat_index(sentence_vectors, dimension), str(folder / "sentences.faiss"))
    (folder / "bm25.json").write_text(json.dumps({"tokens": index.bm25_tokens}), encoding="utf-8")
    # The manifest goes last: a folder without one is an unfinished build.
    (folder / "manifest.json").write_text(json.dumps(index.manifest, indent=2), encoding="utf-8")
    pointer_tmp = out / f"{POINTER}.{os.getpid()}.tmp"
    pointer_tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(pointer_tmp, out / POINTER)
    remove_stale_builds(out, keep=name)
    return folder


def remove_stale_builds(out: Path, keep: str) -> None:
    for child in out.iterdir():
        if child.is_dir() and child.name.startswith("build-") and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)


def live_folder(out: Path) -> Path:
    """The folder of the live build, or IndexNotFound with the command that makes one."""
    pointer = out / POINTER
    if not pointer.is_file():
        raise IndexNotFound(f"No index found at {out}; build it with: {rebuild_command(out)}.")
    folder = out / pointer.read_text(encoding="utf-8").strip()
    if not (folder / "manifest.json").is_file():
        raise IndexNotFound(f"The index at {out} is incomplete; rebuild it with: {rebuild_command(out)}.")
    return folder


def read_manifest(out: Path) -> dict:
    manifest = json.loads((live_folder(out) / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(
            f"The index at {out} has format {manifest.get('format_version')}, this code reads "
            f"format {FORMAT_VERSION}; rebuild it with: {rebuild_command(out)}."
        )
    return manifest


def read_index(out: Path) -> StoredIndex:
    manifest = read_manifest(out)
    folder = live_folder(out)
    documents = [Document(**row) for row in _read_jsonl(folder / "documents.jsonl")]
    passage_rows = _read_jsonl(folder / "passages.jsonl")
    sentence_rows = _read_jsonl(folder / "sentences.jsonl")
    passages = [Passage(**{k: v for k, v in r.items() if k not in ("context", "key")}) for r in passage_rows]
    sentences = [Sentence(documents[d].doc_id, s, e, p) for d, s, e, p, _ in sentence_rows]
    return StoredIndex(
        manifest=manifest,
        documents=documents,
        passages=passages,
        sentences=sentences,
        contexts=[r["context"] for r in passage_rows],
        passage_keys=[r["key"] for r in passage_rows],
        sentence_keys=[row[4] for row in sentence_rows],
        passage_index=faiss.read_index(str(folder / "passages.faiss")),
        sentence_index=faiss.read_index(str(folder / "sentences.faiss")),
        bm25_tokens=json.loads((folder / "bm25.json").read_text(encoding="utf-8"))["tokens"],
    )


def stored_vectors(index: faiss.Index) -> np.ndarray:
    """The vectors a flat index holds (used to reuse embeddings of unchanged text)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
