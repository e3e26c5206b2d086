"""The index directory on disk: written atomically, read back without executing anything.

Layout of `DIR` (default `var/index`):
    CURRENT                 name of the live build folder, replaced atomically when a build finishes
    build-<stamp>/
        manifest.json       format version, model and its hash, dimension, corpus file hashes,
                            counts and build parameters
        documents.*         the documents (`index.tables.DocumentTable`): ids, cleaned texts (every
                            offset points into them) and metadata as string tables, a sorted array of
                            id hashes to find one by id, the numbers of those with an author or publisher
        passages.npy        [document, start, end, first sentence, last sentence] per passage, with
        passages.locator.*  its locator and heading context as string tables
        passages.keys.npy   the embedding cache key of each passage (32 hex digits)
        sentences.npy       [document, start, end, passage] per sentence; sentences.keys.npy likewise
        sentences.words.npy, sentences.continues.npy
                            each sentence's word count, and whether it opens by pointing back
                            (`index.lead_in`)
        passages.vectors.npy, sentences.vectors.npy
                            float32 unit vectors, searched flat where the manifest says "flat"
        passages.faiss, sentences.faiss
                            FAISS HNSW graphs, only where the manifest says "ann" (`index.vector_index`)
        bm25.*              BM25's vocabulary, idf and postings (`index.bm25`)
        tokens.codes.npy    every sentence's content word-piece vectors, one row per piece: int8
        tokens.scales.npy   codes and a float32 scale per row (vector = codes * scale), or where the
        tokens.centroids.npy  manifest's "word_pieces" says "pq", product-quantisation codes and their
                            centroids (`compress`)
        tokens.offsets.npy  int64: sentence i owns rows offsets[i]:offsets[i + 1]
        synonyms.json       for words the corpus lacks, the corpus terms WordNet gives as synonyms
                            (`index.wordnet`); an index built without WordNet has none
        query_model.onnx    the model's network, for encoding questions without torch
                            (`index.query_encoder`); the manifest gives its size. Absent when the
                            export failed (the manifest then says "query_model": null and
                            questions are encoded with torch)

Nothing is pickled, and everything but the manifest, the synonyms and the HNSW graphs is memory-mapped
(`index.tables`): loading reads headers, and a question reads the rows it needs. A build killed before
it switches CURRENT leaves the previous build live.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from index.bm25 import BM25Index
from index.errors import IndexMismatch, IndexNotFound
from index.tables import DocumentTable, FileRows, Keys, PassageTable, SentenceTable, open_array, write_keys
from index.types import Document, Passage, Sentence
from index.vector_index import FlatSearch, GraphSearch, tune, vector_index

FORMAT_VERSION = 4  # 3: a record's sentences embedded with its title; 4: memory-mapped tables
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
    """The content word-piece vectors of every sentence (see `index.embed.Encoder.encode_tokens`): int8
    codes with a scale per row, or, with `centroids`, product-quantisation codes (`compress`)."""

    codes: np.ndarray  # [pieces, dimension] int8, or [pieces, subvectors] uint8 with centroids
    scales: np.ndarray  # [pieces] float32 (int8 codes only)
    offsets: np.ndarray  # [sentences + 1] int64
    centroids: np.ndarray | None = None  # [subvectors, 256, dimension / subvectors] float32

    @classmethod
    def pack(cls, parts: list[tuple[np.ndarray, np.ndarray]], dimension: int) -> TokenVectors:
        """From one (codes, scales) pair per sentence, in sentence order."""
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(c) for c, _ in parts])
        codes = np.concatenate([c for c, _ in parts]) if parts else np.zeros((0, dimension), dtype=np.int8)
        scales = np.concatenate([s for _, s in parts]) if parts else np.zeros(0, dtype=np.float32)
        return cls(codes.reshape(-1, dimension).astype(np.int8), scales.astype(np.float32), offsets)

    @property
    def dimension(self) -> int:
        return self.codes.shape[1] if self.centroids is None else self.centroids.shape[0] * self.centroids.shape[2]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def decode(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` as float32 vectors (unit length, up to the quantisation)."""
        codes = np.asarray(self.codes[rows])
        if self.centroids is None:
            return codes.astype(np.float32) * np.asarray(self.scales[rows])[:, None]
        parts = self.centroids[np.arange(codes.shape[1])[None, :], codes]  # [rows, subvectors, width]
        vectors = parts.reshape(len(codes), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def quantized(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Sentence i's pieces as int8 codes and scales (the embedding cache's form)."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        if self.centroids is None:
            return np.asarray(self.codes[lo:hi]), np.asarray(self.scales[lo:hi])
        return quantize(self.decode(np.arange(lo, hi)))

    def rows(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """The rows of sentences `ids`, in that order, and how many each sentence has."""
        ids = np.asarray(ids, dtype=np.int64)
        starts = np.asarray(self.offsets[ids], dtype=np.int64)
        counts = np.asarray(self.offsets[ids + 1], dtype=np.int64) - starts
        before = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return np.repeat(starts - before, counts) + np.arange(int(counts.sum()), dtype=np.int64), counts

    def gather(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of sentences `ids`, stacked, and how many rows each sentence has."""
        rows, counts = self.rows(ids)
        if not len(rows):
            return np.zeros((0, self.dimension), dtype=np.float32), counts
        return self.decode(rows), counts


PIECE_KINDS = ("int8", "pq", "auto")
PQ_THRESHOLD = 5_000_000  # pieces (about 2 GB as int8 codes); measured cost in docs/index-format.md


def pieces_kind(kind: str, count: int, threshold: int = PQ_THRESHOLD) -> str:
    """How to store `count` word-piece vectors: "int8" or "pq"."""
    if kind not in PIECE_KINDS:
        raise ValueError(f"the word pieces must be one of {', '.join(PIECE_KINDS)}")
    if kind == "auto":
        return "pq" if count >= threshold else "int8"
    return kind


PQ_SUBVECTORS = 48  # 8 dimensions each: 48 bytes a piece instead of 388 (int8 codes and a scale)
PQ_CENTROIDS = 256  # per sub-vector (8-bit codes): k-means needs at least as many pieces
PQ_SAMPLE = 200_000  # pieces the codebooks are learnt from
PQ_CHUNK = 500_000


def compress(tokens: TokenVectors, subvectors: int = PQ_SUBVECTORS, seed: int = 0) -> TokenVectors:
    """The same pieces as product-quantisation codes: each vector cut in `subvectors` parts, each part
    replaced by the nearest of 256 centroids learnt (FAISS k-means) from a sample of the pieces."""
    total, dimension = tokens.codes.shape
    pq = faiss.ProductQuantizer(dimension, subvectors, PQ_CENTROIDS.bit_length() - 1)
    sample = np.sort(np.random.default_rng(seed).permutation(total)[:PQ_SAMPLE])
    pq.train(np.ascontiguousarray(tokens.decode(sample)))
    codes = np.zeros((total, subvectors), dtype=np.uint8)
    for lo in range(0, total, PQ_CHUNK):
        block = np.ascontiguousarray(tokens.decode(np.arange(lo, min(total, lo + PQ_CHUNK))))
        codes[lo : lo + len(block)] = pq.compute_codes(block)
    centroids = faiss.vector_to_array(pq.centroids).reshape(subvectors, 256, dimension // subvectors)
    return TokenVectors(codes, np.zeros(0, dtype=np.float32), tokens.offsets, centroids.astype(np.float32))


@dataclass(frozen=True)
class StoredIndex:
    """One build, as sequences and arrays: lists when a build makes it, memory-mapped tables when read."""

    manifest: dict
    documents: Sequence[Document]
    passages: Sequence[Passage]
    sentences: Sequence[Sentence]
    contexts: Sequence[str]
    passage_keys: Sequence[str]
    sentence_keys: Sequence[str]
    passage_vectors: np.ndarray  # [passages, dimension] float32, unit length
    sentence_vectors: np.ndarray
    bm25: BM25Index
    sentence_tokens: TokenVectors
    sentence_words: np.ndarray  # [sentences] words in each
    continues: np.ndarray  # [sentences] whether it opens by pointing back to the one before (`index.lead_in`)
    synonyms: dict[str, list[str]] = field(default_factory=dict)  # term the corpus lacks -> corpus terms
    passage_index: object = None  # what searches the vectors (`index.vector_index`), when read back
    sentence_index: object = None

    @property
    def sentence_passage(self) -> np.ndarray:
        """Each sentence's passage."""
        if isinstance(self.sentences, SentenceTable):
            return self.sentences.passage
        return np.array([s.passage for s in self.sentences], dtype=np.int64)


def write_index(out: Path, index: StoredIndex, files: dict[str, Path] | None = None) -> Path:
    """Write a complete build next to the live one, then switch CURRENT to it in one rename. `files`
    (name in the build: a file prepared beside it, under `out`) are moved in before the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"build-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    folder = out / name
    folder.mkdir()
    doc_number = {d.doc_id: i for i, d in enumerate(index.documents)}
    DocumentTable.write(folder, index.documents)
    PassageTable.write(folder, index.passages, index.contexts, doc_number)
    SentenceTable.write(folder, index.sentences, doc_number)
    write_keys(folder / "passages.keys.npy", index.passage_keys)
    write_keys(folder / "sentences.keys.npy", index.sentence_keys)
    np.save(folder / "sentences.words.npy", np.asarray(index.sentence_words, dtype=np.int32), allow_pickle=False)
    np.save(folder / "sentences.continues.npy", np.asarray(index.continues, dtype=bool), allow_pickle=False)
    dimension = index.manifest["model"]["dimension"]
    kinds = index.manifest.get("vector_index") or {}
    for part, vectors in (("passages", index.passage_vectors), ("sentences", index.sentence_vectors)):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dimension)
        np.save(folder / f"{part}.vectors.npy", vectors, allow_pickle=False)
        if kinds.get(part, "flat") == "ann":
            faiss.write_index(vector_index(vectors, dimension, "ann"), str(folder / f"{part}.faiss"))
    index.bm25.write(folder)
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
    files = [("tokens.codes.npy", tokens.codes), ("tokens.offsets.npy", tokens.offsets)]
    if tokens.centroids is None:
        return [*files, ("tokens.scales.npy", tokens.scales)]
    return [*files, ("tokens.centroids.npy", tokens.centroids)]


def _read_tokens(folder: Path, kind: str = "int8") -> TokenVectors:
    # A question reads its candidates' rows only: read by range, not mapped (`index.tables.FileRows`).
    codes, offsets = FileRows(folder / "tokens.codes.npy"), open_array(folder / "tokens.offsets.npy")
    if kind == "pq":
        centroids = np.load(folder / "tokens.centroids.npy", allow_pickle=False)
        if codes.shape[1] != centroids.shape[0]:
            raise ValueError("tokens.codes.npy does not match tokens.centroids.npy")
        return TokenVectors(codes, np.zeros(0, dtype=np.float32), offsets, centroids)
    return TokenVectors(codes, FileRows(folder / "tokens.scales.npy"), offsets)


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
    counts = manifest["counts"]
    documents = DocumentTable(folder)
    passages = PassageTable(folder, documents)
    sentences = SentenceTable(folder, documents)
    found = {"documents": len(documents), "passages": len(passages), "sentences": len(sentences)}
    for what, count in found.items():
        if count != counts[what]:
            raise WrongSize(f"it holds {count} {what} where the manifest says {counts[what]}")
    kinds = manifest.get("vector_index") or {}
    vectors, searches = {}, {}
    for part in ("passages", "sentences"):
        path = folder / f"{part}.vectors.npy"
        if kinds.get(part) == "ann":  # the graph searches; the rows are read for its candidates only
            vectors[part] = FileRows(path)
            searches[part] = GraphSearch(tune(faiss.read_index(str(folder / f"{part}.faiss"))), vectors[part])
        else:  # a flat search reads every vector: mapped
            vectors[part] = open_array(path)
            searches[part] = FlatSearch(vectors[part])
        if len(vectors[part]) != counts[part]:
            raise WrongSize(f"{part}.vectors.npy holds {len(vectors[part])} vectors for {counts[part]} {part}")
    tokens = _read_tokens(folder, manifest.get("word_pieces", "int8"))
    if len(tokens) != counts["sentences"] or tokens.offsets[-1] != len(tokens.codes):
        raise WrongSize("tokens.offsets.npy does not match the sentences")
    return StoredIndex(
        manifest=manifest,
        documents=documents,
        passages=passages,
        sentences=sentences,
        contexts=passages.contexts,
        passage_keys=Keys(open_array(folder / "passages.keys.npy")),
        sentence_keys=Keys(open_array(folder / "sentences.keys.npy")),
        passage_vectors=vectors["passages"],
        sentence_vectors=vectors["sentences"],
        bm25=BM25Index.open(folder),
        sentence_tokens=tokens,
        sentence_words=open_array(folder / "sentences.words.npy"),
        continues=open_array(folder / "sentences.continues.npy"),
        synonyms=_read_synonyms(folder / "synonyms.json"),
        passage_index=searches["passages"],
        sentence_index=searches["sentences"],
    )


def _read_synonyms(path: Path) -> dict[str, list[str]]:
    """The synonym table; {} for an index of this format built before the table existed."""
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Embeddings:
    """What a rebuild can reuse of the build before it: its vectors by cache key, and its documents."""

    manifest: dict
    folder: Path
    texts: dict[str, str]  # doc_id -> text
    passage_keys: Sequence[str]
    passage_vectors: np.ndarray
    sentence_keys: Sequence[str]
    sentence_vectors: np.ndarray
    sentence_tokens: TokenVectors


def read_embeddings(out: Path) -> Embeddings:
    """The live build's embeddings, from a build of this format or of format 3, the one before it (so
    that moving to this format embeds nothing again). Raises as `read_index` does."""
    folder = live_folder(out)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise damaged(out, "manifest.json cannot be read") from exc
    if manifest.get("format_version") != 3:
        stored = read_index(out, folder)
        texts = {d.doc_id: d.text for d in stored.documents}
        return Embeddings(
            manifest,
            folder,
            texts,
            stored.passage_keys,
            stored.passage_vectors,
            stored.sentence_keys,
            stored.sentence_vectors,
            stored.sentence_tokens,
        )
    try:
        with (folder / "documents.jsonl").open(encoding="utf-8") as handle:
            texts = {row["doc_id"]: row["text"] for row in map(json.loads, handle)}
        with (folder / "passages.jsonl").open(encoding="utf-8") as handle:
            passage_keys = [json.loads(line)["key"] for line in handle]
        with (folder / "sentences.jsonl").open(encoding="utf-8") as handle:
            sentence_keys = [json.loads(line)[4] for line in handle]
        vectors = []
        for part in ("passages", "sentences"):
            index = faiss.read_index(str(folder / f"{part}.faiss"))
            vectors.append(index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), "float32"))
        return Embeddings(
            manifest, folder, texts, passage_keys, vectors[0], sentence_keys, vectors[1], _read_tokens(folder)
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError, RuntimeError) as exc:
        raise damaged(out) from exc
