"""The index's records as memory-mapped arrays, read by offset when a question needs them.

An engine over a million passages must not turn every document, passage and sentence into a Python
object when it loads: that costs seconds and gigabytes. So a build stores them as `.npy` arrays of
numbers and as string tables (one UTF-8 file and the byte offset of each string), all opened with
`mmap`: loading reads a few headers, and memory holds only the pages questions touch (page cache).
The tables are sequences of the same records as before (`Document`, `Passage`, `Sentence`), made
when indexed, so code that reads `stored.passages[i]` is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.types import Document, Passage, Sentence, is_record

READ_LIMIT = 1 << 30
DOCUMENT_FIELDS = ("doc_id", "title", "author", "publisher", "url", "kind", "pages", "headings")


def open_array(path: Path) -> np.ndarray:
    """A `.npy` file, memory-mapped (an empty one read plainly: an empty file cannot be mapped)."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


class _File:
    """A file open for reading by range (`os.pread`: no shared position, so threads may read at once)."""

    def __init__(self, path: Path) -> None:
        self.size = path.stat().st_size
        self.fd = os.open(path, os.O_RDONLY)

    def __del__(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)

    def bytes(self, lo: int, hi: int) -> bytes:
        """Bytes lo to hi (in reads of at most 1 GiB: Linux reads at most 2 GiB at once)."""
        if hi - lo <= READ_LIMIT:
            return os.pread(self.fd, hi - lo, lo)
        return b"".join(os.pread(self.fd, min(READ_LIMIT, hi - at), at) for at in range(lo, hi, READ_LIMIT))


class FileRows(_File):
    """A `.npy` array read a run of rows at a time with `os.pread`, not mapped: what a question reads
    stays in the page cache, shared and reclaimable, and never counts in the process's memory (a mapped
    file's pages do, with the 64 kB the kernel maps around each page touched). Indexed like an array
    (an int, a slice, or an array of rows); `np.asarray` reads it whole."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            self.shape, fortran, self.dtype = read_header(handle)
            self.start = handle.tell()
        if fortran:
            raise ValueError(f"{path.name} is not in row order")
        self.row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        super().__init__(path)
        if self.size != self.start + self.row * self.shape[0]:
            raise ValueError(f"{path.name} is not the size its header gives")

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Rows lo to hi."""
        raw = self.bytes(self.start + lo * self.row, self.start + hi * self.row)
        return np.frombuffer(raw, dtype=self.dtype).reshape((hi - lo, *self.shape[1:]))

    def __getitem__(self, key):
        if isinstance(key, slice):
            lo, hi, step = key.indices(len(self))
            return self.read(lo, max(lo, hi))[::step] if step != 1 else self.read(lo, max(lo, hi))
        if np.isscalar(key):
            i = int(key) + (len(self) if int(key) < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(key)
            return self.read(i, i + 1)[0]
        rows = np.asarray(key, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, *self.shape[1:]), dtype=self.dtype)
        if rows.min() < 0 or rows.max() >= len(self):
            raise IndexError("row out of range")
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1  # runs of consecutive rows, one read each
        starts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]])
        return np.concatenate(
            [self.read(int(rows[a]), int(rows[b - 1]) + 1) for a, b in zip(starts, ends, strict=True)]
        )

    def __array__(self, dtype=None, copy=None):
        whole = self.read(0, len(self))
        return whole if dtype is None else whole.astype(dtype)


class StringTable(Sequence[str]):
    """Strings in one UTF-8 file `<name>.bin` (read by range), with their byte offsets in
    `<name>.offsets.npy` (mapped)."""

    def __init__(self, data, offsets: np.ndarray) -> None:
        self.data = data
        self.offsets = offsets

    @staticmethod
    def write(folder: Path, name: str, strings: Iterable[str]) -> int:
        """Write the strings; how many there were."""
        offsets = [0]
        with (folder / f"{name}.bin").open("wb") as handle:
            for text in strings:
                raw = text.encode("utf-8")
                handle.write(raw)
                offsets.append(offsets[-1] + len(raw))
        np.save(folder / f"{name}.offsets.npy", np.asarray(offsets, dtype=np.int64), allow_pickle=False)
        return len(offsets) - 1

    @classmethod
    def open(cls, folder: Path, name: str) -> StringTable:
        offsets = open_array(folder / f"{name}.offsets.npy")
        data = _File(folder / f"{name}.bin")
        if len(offsets) == 0 or offsets[-1] != data.size:
            raise ValueError(f"{name}.bin does not match its offsets")
        return cls(data, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.data.bytes(int(self.offsets[i]), int(self.offsets[i + 1])).decode("utf-8")


def id_hash(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "little")


class DocumentTable(Sequence[Document]):
    """The documents: their texts and their metadata (one JSON object each) in string tables, found by
    number or by id (through a sorted array of 64-bit hashes of the ids)."""

    def __init__(self, folder: Path) -> None:
        self.ids = StringTable.open(folder, "documents.ids")
        self.texts = StringTable.open(folder, "documents.text")
        self.meta = StringTable.open(folder, "documents.meta")
        self.hashes = open_array(folder / "documents.hashes.npy")
        self.order = open_array(folder / "documents.order.npy")
        # The documents with an author, publisher or kind (`qa.sources`): few, even in a large corpus.
        self.described = np.asarray(open_array(folder / "documents.described.npy"))
        self.records = open_array(folder / "documents.records.npy")  # whether each is a collection's record
        if (
            not len(self.ids)
            == len(self.texts)
            == len(self.meta)
            == len(self.hashes)
            == len(self.order)
            == len(self.records)
        ):
            raise ValueError("the documents' tables differ in length")
        self._get = lru_cache(maxsize=1024)(self._read)

    @staticmethod
    def write(folder: Path, documents: Sequence[Document]) -> None:
        StringTable.write(folder, "documents.ids", (d.doc_id for d in documents))
        StringTable.write(folder, "documents.text", (d.text for d in documents))
        StringTable.write(
            folder,
            "documents.meta",
            (json.dumps({f: getattr(d, f) for f in DOCUMENT_FIELDS[1:]}, ensure_ascii=False) for d in documents),
        )
        hashes = np.array([id_hash(d.doc_id) for d in documents], dtype=np.uint64)
        order = np.argsort(hashes, kind="stable")
        np.save(folder / "documents.hashes.npy", hashes[order], allow_pickle=False)
        np.save(folder / "documents.order.npy", order.astype(np.int64), allow_pickle=False)
        described = [i for i, d in enumerate(documents) if d.author or d.publisher or d.kind]
        np.save(folder / "documents.described.npy", np.asarray(described, dtype=np.int64), allow_pickle=False)
        records = np.array([is_record(d.doc_id) for d in documents], dtype=bool)
        np.save(folder / "documents.records.npy", records, allow_pickle=False)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self._get(int(i))

    def _read(self, i: int) -> Document:
        meta = json.loads(self.meta[i])
        return Document(doc_id=self.ids[i], text=self.texts[i], **meta)

    def number(self, doc_id: str) -> int:
        """The number of document `doc_id`; KeyError when there is none."""
        if not isinstance(doc_id, str):
            raise KeyError(doc_id)
        h = np.uint64(id_hash(doc_id))
        at = int(np.searchsorted(self.hashes, h))
        while at < len(self.hashes) and self.hashes[at] == h:
            if self.ids[int(self.order[at])] == doc_id:
                return int(self.order[at])
            at += 1
        raise KeyError(doc_id)

    def by_id(self, doc_id: str) -> Document:
        return self[self.number(doc_id)]


class PassageTable(Sequence[Passage]):
    """The passages: [document, start, end, first sentence, last sentence] per row, and their locators
    and heading contexts as string tables."""

    def __init__(self, folder: Path, documents: DocumentTable) -> None:
        self.rows = open_array(folder / "passages.npy")
        self.locators = StringTable.open(folder, "passages.locator")
        self.contexts = StringTable.open(folder, "passages.context")
        self.documents = documents
        if not len(self.rows) == len(self.locators) == len(self.contexts):
            raise ValueError("the passages' tables differ in length")

    @staticmethod
    def write(folder: Path, passages: Sequence[Passage], contexts: Sequence[str], doc_number: dict) -> None:
        rows = np.array(
            [(doc_number[p.doc_id], p.start, p.end, p.first_sentence, p.last_sentence) for p in passages],
            dtype=np.int64,
        ).reshape(-1, 5)
        np.save(folder / "passages.npy", rows, allow_pickle=False)
        StringTable.write(folder, "passages.locator", (p.locator for p in passages))
        StringTable.write(folder, "passages.context", contexts)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        doc, start, end, first, last = (int(v) for v in self.rows[i])
        return Passage(self.documents.ids[doc], start, end, self.locators[int(i)], first, last)


class SentenceTable(Sequence[Sentence]):
    """The sentences: [document, start, end, passage] per row."""

    def __init__(self, folder: Path, documents: DocumentTable) -> None:
        self.rows = open_array(folder / "sentences.npy")
        self.documents = documents

    @staticmethod
    def write(folder: Path, sentences: Sequence[Sentence], doc_number: dict) -> None:
        rows = np.array([(doc_number[s.doc_id], s.start, s.end, s.passage) for s in sentences], dtype=np.int64)
        np.save(folder / "sentences.npy", rows.reshape(-1, 4), allow_pickle=False)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        doc, start, end, passage = (int(v) for v in self.rows[i])
        return Sentence(self.documents.ids[doc], start, end, passage)

    @property
    def passage(self) -> np.ndarray:
        """Each sentence's passage."""
        return self.rows[:, 3]

    def text(self, i: int) -> str:
        doc, start, end, _ = (int(v) for v in self.rows[i])
        return self.documents[doc].text[start:end]


def write_keys(path: Path, keys: Sequence[str]) -> None:
    """Embedding cache keys (32 hex digits each) as a fixed-width array."""
    np.save(path, np.asarray(keys, dtype="S32").reshape(-1), allow_pickle=False)


class Keys(Sequence[str]):
    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [k.decode("ascii") for k in self.array[i]]
        return self.array[i].decode("ascii")


class DocumentsById(Mapping[str, Document]):
    """The documents of a `DocumentTable` read like a dict from id to document."""

    def __init__(self, table: DocumentTable) -> None:
        self.table = table

    def __getitem__(self, doc_id: str) -> Document:
        return self.table.by_id(doc_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self.table.ids)

    def __len__(self) -> int:
        return len(self.table)

    def listing(self) -> list[Document]:
        """What the corpus panel lists: every document that is not a collection's record, without its
        text, and each record as its id only (a collection of a million is counted, not read)."""
        records = np.asarray(self.table.records)
        out = []
        for i in range(len(self.table)):
            if records[i]:
                out.append(Document(self.table.ids[i], "", None, None, None, None, ""))
            else:
                document = self.table[i]
                out.append(Document(**{f: getattr(document, f) for f in DOCUMENT_FIELDS}, text=""))
        return out
