"""The index directory on disk: written atomically, read back without executing anything.

Layout of `DIR` (default `var/index`):
    CURRENT                 name of the live build folder, replaced atomically when a build finishes
    build-<stamp>/
        manifest.json       format version, model and its hash, dimension, corpus file hashes,
                            counts and build parameters
        documents.jsonl     one Document per line (the cleaned text every offset points into)
        passages.jsonl      one Passage per line, with its heading context and embedding cache key
        sentences.jsonl     [document number, start, end, passage number, cache key] per line
        passages.faiss      FAISS inner-product index over normalised passage vectors: flat, or
                            HNSW for a large corpus (`index.vector_index`; the manifest says which)
        sentences.faiss     the same over normalised sentence vectors
        bm25.json           BM25 tokens of every passage
        tokens.codes.npy    int8 vectors of every sentence's content word pieces, one row per piece
        tokens.scales.npy   float32 scale of each row (vector = codes * scale)
        tokens.offsets.npy  int64: sentence i owns rows offsets[i]:offsets[i + 1]
        synonyms.json       for words the corpus lacks, the corpus terms WordNet gives as synonyms
                            (`index.wordnet`); an index built without WordNet has none
        query_model.onnx    the model's network, for encoding questions without torch
                            (`index.query_encoder`); the manifest gives its size. Absent when the
                            export failed (the manifest then says "query_model": null and
                            questions are encoded with torch)

Nothing is pickled (the .npy files are read with allow_pickle=False, memory-mapped, so a large
corpus's word-piece vectors stay on disk until a question needs them). A build killed before it
switches CURRENT leaves the previous build live.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from index.errors import IndexMismatch, IndexNotFound
from index.types import Document, Passage, Sentence
from index.vector_index import tune, vector_index

FORMAT_VERSION = 3  # 2: word-piece vectors of every sentence; 3: a record's sentences embedded with its title
POINTER = "CURRENT"
BUILD_COMMAND = "make index (or: python -m index build)"


def rebuild_command(out: Path, corpus: Path | None = None) -> str:
    """The command that (re)builds the index at `out`, as a user would type it."""
    from index.config import DEFAULT_CORPUS, DEFAULT_INDEX

    if Path(out) == DEFAULT_INDEX and corpus in (None, DEFAULT_CORPUS):
        return BUILD_COMMAND
    return f"python -m index build --corpus {corpus or '<corpus folder>'} --out {out}"


def damaged(out: Path, what: str = "", corpus: Path | None = None) -> IndexMismatch:
    """The one sentence for an index whose files are damaged (`what`: which file, and how)."""
    detail = f" ({what})" if what else ""
    return IndexMismatch(f"The index at {out} is damaged{detail}; rebuild it with: {rebuild_command(out, corpus)}.")


def quantize(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and one float32 scale per row, so that codes * scale ≈ matrix (error ≤ scale / 2)."""
    peak = np.abs(matrix).max(axis=1) if len(matrix) else np.zeros(0, dtype=np.float32)
    scales = (np.where(peak == 0, 1.0, peak) / 127.0).astype(np.float32)
    codes = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


@dataclass(frozen=True)
class TokenVectors:
    """The content word-piece vectors of every sentence (see `index.embed.Encoder.encode_tokens`)."""

    codes: np.ndarray  # [pieces, dimension] int8
    scales: np.ndarray  # [pieces] float32
    offsets: np.ndarray  # [sentences + 1] int64

    @classmethod
    def pack(cls, parts: list[tuple[np.ndarray, np.ndarray]], dimension: int) -> TokenVectors:
        """From one (codes, scales) pair per sentence, in sentence order."""
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(c) for c, _ in parts])
        codes = np.concatenate([c for c, _ in parts]) if parts else np.zeros((0, dimension), dtype=np.int8)
        scales = np.concatenate([s for _, s in parts]) if parts else np.zeros(0, dtype=np.float32)
        return cls(codes.reshape(-1, dimension).astype(np.int8), scales.astype(np.float32), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def quantized(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return np.asarray(self.codes[lo:hi]), np.asarray(self.scales[lo:hi])

    def gather(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of sentences `ids`, stacked, and how many rows each sentence has."""
        spans = [(int(self.offsets[i]), int(self.offsets[i + 1])) for i in ids]
        counts = np.array([hi - lo for lo, hi in spans], dtype=np.int64)
        if not counts.sum():
            return np.zeros((0, self.codes.shape[1]), dtype=np.float32), counts
        rows = np.concatenate([np.arange(lo, hi) for lo, hi in spans])
        return np.asarray(self.codes[rows], dtype=np.float32) * np.asarray(self.scales[rows])[:, None], counts


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
    sentence_tokens: TokenVectors
    synonyms: dict[str, list[str]] = field(default_factory=dict)  # term the corpus lacks -> corpus terms


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_index(
    out: Path,
    index: StoredIndex,
    passage_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    files: dict[str, Path] | None = None,
) -> Path:
    """Write a complete build next to the live one, then switch CURRENT to it in one rename. `files`
    (name in the build: a file prepared beside it, under `out`) are moved in before the manifest."""
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
    kinds = index.manifest.get("vector_index") or {}
    for part, vectors in (("passages", passage_vectors), ("sentences", sentence_vectors)):
        built = vector_index(vectors, dimension, kinds.get(part, "flat"))
        faiss.write_index(built, str(folder / f"{part}.faiss"))
    (folder / "bm25.json").write_text(json.dumps({"tokens": index.bm25_tokens}), encoding="utf-8")
    (folder / "synonyms.json").write_text(json.dumps(index.synonyms), encoding="utf-8")
    for file_name, array in _token_files(index.sentence_tokens):
        np.save(folder / file_name, array, allow_pickle=False)
    for file_name, path in (files or {}).items():
        os.replace(path, folder / file_name)
    # The manifest goes last: a folder without one is an unfinished build.
    (folder / "manifest.json").write_text(json.dumps(index.manifest, indent=2), encoding="utf-8")
    pointer_tmp = out / f"{POINTER}.{os.getpid()}.tmp"
    pointer_tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(pointer_tmp, out / POINTER)
    remove_stale_builds(out, keep=name)
    return folder


def _token_files(tokens: TokenVectors) -> list[tuple[str, np.ndarray]]:
    return [
        ("tokens.codes.npy", tokens.codes),
        ("tokens.scales.npy", tokens.scales),
        ("tokens.offsets.npy", tokens.offsets),
    ]


def _read_tokens(folder: Path) -> TokenVectors:
    def load(name: str) -> np.ndarray:
        return np.load(folder / name, mmap_mode="r", allow_pickle=False)

    return TokenVectors(load("tokens.codes.npy"), load("tokens.scales.npy"), np.array(load("tokens.offsets.npy")))


def remove_stale_builds(out: Path, keep: str) -> None:
    """Remove earlier builds, and the files that builds killed before they finished left beside them."""
    for child in out.iterdir():
        if child.is_dir() and child.name.startswith("build-") and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)
        elif child.is_file() and child.name.endswith(".tmp"):
            child.unlink(missing_ok=True)


def live_folder(out: Path) -> Path:
    """The folder of the live build, or IndexNotFound with the command that makes one."""
    pointer = out / POINTER
    if not pointer.is_file():
        raise IndexNotFound(f"No index found at {out}; build it with: {rebuild_command(out)}.")
    folder = out / pointer.read_text(encoding="utf-8").strip()
    if not (folder / "manifest.json").is_file():
        raise IndexNotFound(f"The index at {out} is incomplete; rebuild it with: {rebuild_command(out)}.")
    return folder


def read_manifest(out: Path, folder: Path | None = None) -> dict:
    """The manifest of build `folder` (default: the live one), refused when of another format."""
    folder = folder or live_folder(out)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(
            f"The index at {out} has format {manifest.get('format_version')}, this code reads "
            f"format {FORMAT_VERSION}; rebuild it with: {rebuild_command(out)}."
        )
    return manifest


class WrongSize(ValueError):
    """A file of the build is not the size the manifest gives."""


def read_index(out: Path, folder: Path | None = None) -> StoredIndex:
    """Build `folder` of the index at `out` (default: the live one, read once, so that a build switching
    CURRENT meanwhile cannot mix two builds)."""
    folder = folder or live_folder(out)
    try:
        manifest = read_manifest(out, folder)
    except (OSError, ValueError) as exc:  # a manifest deleted or cut short after CURRENT named its build
        raise damaged(out, "manifest.json cannot be read") from exc
    try:
        return _read_build(folder, manifest)
    except (OSError, ValueError, KeyError, IndexError, TypeError, RuntimeError) as exc:
        # A file deleted or cut short by hand (faiss raises RuntimeError, numpy and json ValueError).
        what = ""
        if isinstance(exc, FileNotFoundError):
            what = f"{Path(str(exc.filename)).name} is missing"
        elif isinstance(exc, WrongSize):
            what = str(exc)
        raise damaged(out, what) from exc


def _read_build(folder: Path, manifest: dict) -> StoredIndex:
    query_model = manifest.get("query_model")
    if query_model:  # 90 MB: its size is checked here, its sha256 by `index.checks.check_query_model`
        size = (folder / query_model["file"]).stat().st_size
        if size != query_model["bytes"]:
            raise WrongSize(f"{query_model['file']} {'is cut short' if size < query_model['bytes'] else 'has grown'}")
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
        passage_index=tune(faiss.read_index(str(folder / "passages.faiss"))),
        sentence_index=tune(faiss.read_index(str(folder / "sentences.faiss"))),
        bm25_tokens=json.loads((folder / "bm25.json").read_text(encoding="utf-8"))["tokens"],
        sentence_tokens=_read_tokens(folder),
        synonyms=_read_synonyms(folder / "synonyms.json"),
    )


def _read_synonyms(path: Path) -> dict[str, list[str]]:
    """The synonym table; {} for an index of this format built before the table existed."""
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def stored_vectors(index: faiss.Index) -> np.ndarray:
    """The vectors a flat index holds (used to reuse embeddings of unchanged text)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
