"""Building the index: corpus → documents → passages and sentences → vectors and BM25 tokens → disk.

Embeddings are cached by a content key (model hash + the exact text embedded), so a rebuild embeds
only the passages and sentences whose text changed. A sentence's cache entry holds its vector and the
vectors of its content word pieces, which come out of the same forward pass. Embeddings are also
written to disk chunk by chunk as they are made (`Shards`), so a build that is killed, by Ctrl-C or
SIGKILL, embeds only what it had not finished when started again; the previous index stays in use
until the new one switches CURRENT.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from index.bm25 import BM25Index
from index.embed import Encoder, model_hash
from index.errors import IndexNotFound, QAError
from index.ingest import corpus_fingerprint, file_hash, read_corpus
from index.lead_in import points_back
from index.models import DEFAULT_MODEL, spec
from index.passages import MAX_SENTENCES, MAX_WORDS, segment
from index.query_encoder import QUERY_MODEL
from index.store import (
    FORMAT_VERSION,
    PQ_CENTROIDS,
    PQ_THRESHOLD,
    Embeddings,
    StoredIndex,
    TokenVectors,
    compress,
    pieces_kind,
    quantize,
    read_embeddings,
    write_index,
)
from index.tokenize import tokenize
from index.types import is_record
from index.vector_index import ANN_THRESHOLD, chosen
from index.wordnet import DEFAULT_SENSES, find_wordnet, synonym_table, wordnet_digest

FETCH_WORDNET = "bash scripts/fetch_wordnet.sh fetches it"


@dataclass(frozen=True)
class BuildParams:
    max_sentences: int = MAX_SENTENCES
    max_words: int = MAX_WORDS
    # Embed "heading path: passage" rather than the passage alone, and "title: sentence" for the
    # sentences of a collection's records.
    embed_context: bool = True
    bm25_variant: str = "BM25Plus"
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_delta: float = 1.0
    # WordNet senses per part of speech whose synonyms stand in for a question word the corpus lacks
    synonym_senses: int = DEFAULT_SENSES
    # Vector search: "flat" (exact), "ann" (HNSW), or "auto" (flat below `ann_threshold` vectors)
    vector_index: str = "auto"
    ann_threshold: int = ANN_THRESHOLD
    # Word-piece vectors: "int8", "pq" (product quantisation, 8x smaller), or "auto" (pq from `pq_threshold` pieces)
    word_pieces: str = "auto"
    pq_threshold: int = PQ_THRESHOLD

    def __post_init__(self) -> None:
        chosen(self.vector_index, 0)  # a kind it knows
        pieces_kind(self.word_pieces, 0)
        if self.max_sentences < 1 or self.max_words < 1:
            raise ValueError("max_sentences and max_words must be at least 1")
        if self.synonym_senses < 1:
            raise ValueError("synonym_senses must be at least 1")


@dataclass
class BuildSummary:
    documents: int
    passages: int
    sentences: int
    seconds: float
    embedded: int  # distinct texts that had to be embedded
    reused: int = 0  # distinct texts whose vectors came from the previous index
    resumed: int = 0  # distinct texts a build killed before it finished had embedded (`Shards`)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what else reading the corpus found wrong
    unusable: str = ""  # why the previous index could not be reused, when there was one
    folder: str = ""
    synonyms: int = 0  # words the corpus lacks that have synonyms in it
    wordnet: str = ""  # the WordNet folder the synonyms came from ("" when none was found)
    no_query_model: str = ""  # why the network was not exported for answering without torch, if it was not

    def lines(self) -> list[str]:
        out = [
            f"Indexed {self.documents} documents: {self.passages} passages, {self.sentences} sentences "
            f"in {self.seconds:.1f} s ({self.embedded} texts embedded, {self.reused} reused from the previous index).",
        ]
        if self.resumed:
            out.append(f"Resumed: {self.resumed} texts were embedded already by a build that did not finish.")
        if not (self.added or self.removed or self.changed):
            out.append("No document changed since the previous index.")
        for label, names in (("added", self.added), ("removed", self.removed), ("changed", self.changed)):
            if names:
                shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
                out.append(f"{label.capitalize()}: {shown}")
        out.extend(f"Skipped: {reason}" for reason in self.skipped)
        out.extend(f"Note: {note}" for note in self.notes)
        if self.wordnet:
            out.append(f"Synonyms from WordNet ({self.wordnet}) for {self.synonyms} words the corpus does not use.")
        else:
            out.append(
                f"No WordNet found, so no synonyms: questions match the corpus's own words only ({FETCH_WORDNET})."
            )
        if self.no_query_model:
            out.append(
                f"The model could not be exported for answering ({self.no_query_model}): "
                "questions will be encoded with torch, which loads more slowly."
            )
        if self.unusable:
            out.append(f"The previous index was not reused ({self.unusable}), so every document counts as added.")
        return out


def sentence_flags(texts: list[str]) -> dict[str, np.ndarray]:
    """What the engine reads of each sentence without its text: its word count, and whether it opens by
    pointing back to the sentence before (`index.lead_in`)."""
    return {
        "sentence_words": np.array([len(t.split()) for t in texts], dtype=np.int32),
        "continues": np.array([points_back(t) for t in texts], dtype=bool),
    }


def embed_input(context: str, text: str, with_context: bool) -> str:
    return f"{context}: {text}" if with_context and context else text


def content_key(model_digest: str, text: str) -> str:
    return hashlib.sha256(f"{model_digest}\0{text}".encode()).hexdigest()[:32]


def _previous(out: Path) -> tuple[Embeddings | None, str]:
    """The embeddings of the index already at `out`, or None and why they cannot be reused ("" when there
    is none)."""
    try:
        return read_embeddings(out), ""
    except IndexNotFound:
        return None, ""
    except (QAError, OSError, ValueError, KeyError, TypeError) as exc:
        return None, str(exc).split("; rebuild it with")[0]  # stale format, damaged: embed afresh


class Shards:
    """Embeddings written as they are made, so a build that is killed embeds only the rest when run
    again: one `.npz` file per finished chunk under `<out>/.embedding/`, keyed like the cache (model
    hash + text), written whole or not at all. Removed once the build has switched CURRENT."""

    def __init__(self, out: Path) -> None:
        self.folder = Path(out) / ".embedding"

    def load(self, wanted: set[str], passages: dict, sentences: dict) -> int:
        """Put the shards' entries whose key is `wanted` in the caches; how many were found."""
        found = 0
        for path in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
            if ".tmp." in path.name:  # being written when the build was killed
                path.unlink(missing_ok=True)
                continue
            try:
                with np.load(path, allow_pickle=False) as shard:
                    keys = [str(k) for k in shard["keys"]]
                    vectors = shard["vectors"]
                    if "offsets" in shard:  # sentences: their word-piece codes and scales too
                        codes, scales, offsets = shard["codes"], shard["scales"], shard["offsets"]
                        for i, key in enumerate(keys):
                            if key in wanted and key not in sentences:
                                a, b = offsets[i], offsets[i + 1]
                                sentences[key] = (vectors[i], (codes[a:b], scales[a:b]))
                                found += 1
                    else:
                        for key, vector in zip(keys, vectors, strict=True):
                            if key in wanted and key not in passages:
                                passages[key] = vector
                                found += 1
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # damaged by hand
                path.unlink(missing_ok=True)
        return found

    def save(self, label: str, keys: list[str], entries: list) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays = {"keys": np.array(keys, dtype="U32")}
        if entries and isinstance(entries[0], tuple):
            arrays["vectors"] = np.stack([e[0] for e in entries])
            arrays["codes"] = np.concatenate([e[1][0] for e in entries])
            arrays["scales"] = np.concatenate([e[1][1] for e in entries])
            arrays["offsets"] = np.cumsum([0, *(len(e[1][0]) for e in entries)])
        else:
            arrays["vectors"] = np.stack(entries)
        name = f"{label}-{keys[0]}"
        staged = self.folder / f"{name}.{os.getpid()}.tmp.npz"
        np.savez(staged, **arrays)
        os.replace(staged, self.folder / f"{name}.npz")

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _embed_cached(
    keys: list[str],
    texts: list[str],
    cache: dict,
    encoder: Encoder,
    progress: bool,
    label: str,
    with_tokens: bool,
    shards: Shards | None = None,
    ray: RayJob | None = None,
) -> None:
    """Embed the texts whose key is not in `cache` yet; a sentence's entry is (vector, (codes, scales)).
    Each chunk's embeddings go to `shards` as soon as it is done. With `ray`, the embedding runs as a
    Ray Data job (`index.ray_embed`)."""
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache}.items())
    if not missing:
        return
    from tqdm import tqdm

    if ray is not None:
        from index.ray_embed import embed_on_ray

        with tqdm(total=len(missing), desc=f"Embedding {label} on Ray", unit="text", disable=not progress) as bar:

            def done(batch_keys: list[str], entries: list) -> None:
                cache.update(zip(batch_keys, entries, strict=True))
                if shards is not None:
                    shards.save(label, batch_keys, entries)
                bar.update(len(batch_keys))

            embed_on_ray(missing, encoder.model_key, encoder.dimension, with_tokens, ray.address, ray.workers, done)
        return

    step = encoder.batch_size * 4
    with tqdm(total=len(missing), desc=f"Embedding {label}", unit="text", disable=not progress) as bar:
        for i in range(0, len(missing), step):
            chunk = missing[i : i + step]
            batch = [t for _, t in chunk]
            if with_tokens:
                vectors, tokens = encoder.encode_tokens(batch)
                entries = [(v, quantize(t)) for v, t in zip(vectors, tokens, strict=True)]
            else:
                entries = list(encoder.encode(batch))
            for (key, _), entry in zip(chunk, entries, strict=True):
                cache[key] = entry
            if shards is not None:
                shards.save(label, [k for k, _ in chunk], entries)
            bar.update(len(chunk))


@dataclass(frozen=True)
class RayJob:
    """Where to embed on Ray: an existing cluster's address, or None to start Ray on this machine."""

    address: str | None = None
    workers: int = 2


def _check_writable(out: Path) -> None:
    """Refuse an index location that cannot become a folder: a file stands there or above it, or its
    nearest existing folder is not writable."""
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise QAError(f"{existing} is a file, not a folder; pass --out with a folder for the index.")
    if not os.access(existing, os.W_OK):
        raise QAError(f"{existing} is not writable; pass --out with a folder you can write to.")


def build(
    corpus: Path,
    out: Path,
    encoder: Encoder | None = None,
    params: BuildParams = BuildParams(),
    progress: bool = False,
    wordnet: Path | None = None,
    model: str | None = None,
    ray: RayJob | None = None,
) -> BuildSummary:
    """Build the index of `corpus` at `out` with model `model` (`index.models`; the encoder's when one is
    given). Synonyms come from the WordNet folder `wordnet`, or from the first of `index.wordnet.SEARCHED`
    that holds one; without WordNet the index has none."""
    started = time.perf_counter()
    wordnet_folder = find_wordnet(wordnet)
    if wordnet is not None and wordnet_folder is None:
        raise QAError(f"{wordnet} does not hold the WordNet database files (index.noun, data.noun, …).")
    _check_writable(Path(out))  # before minutes of embedding, not after
    model = spec(model or getattr(encoder, "model_key", None) or DEFAULT_MODEL)
    encoder = encoder or Encoder(model=model.key)
    if getattr(encoder, "model_key", model.key) != model.key:
        raise QAError(f"The encoder given embeds with {encoder.model_key}, not {model.key}.")
    fingerprint = corpus_fingerprint(corpus)
    documents, report = read_corpus(corpus)
    seg = segment(documents, params.max_sentences, params.max_words)
    texts = {d.doc_id: d.text for d in documents}
    digest = model_hash(encoder.folder)

    passage_inputs = [
        embed_input(c, texts[p.doc_id][p.start : p.end], params.embed_context)
        for p, c in zip(seg.passages, seg.contexts, strict=True)
    ]
    # A record of a collection (a WordNet gloss, a SQuAD paragraph) is about its title, which its
    # sentences seldom repeat ("glacier": "a slowly moving mass of ice"): they are embedded with it.
    sentence_inputs = [
        embed_input(
            seg.contexts[s.passage] if is_record(s.doc_id) else "",
            texts[s.doc_id][s.start : s.end],
            params.embed_context,
        )
        for s in seg.sentences
    ]
    passage_keys = [content_key(digest, t) for t in passage_inputs]
    sentence_keys = [content_key(digest, t) for t in sentence_inputs]

    # BM25 also sees who published a passage and what kind of document it is in, so "according to the
    # thread" or "what does Rebecca Vincent say" can match; records of a collection carry their title as
    # context already.
    about = {
        d.doc_id: "" if is_record(d.doc_id) else " ".join(filter(None, (d.title, d.author, d.publisher, d.kind)))
        for d in documents
    }
    bm25_tokens = [
        tokenize(f"{about[p.doc_id]} {c} {texts[p.doc_id][p.start : p.end]}")
        for p, c in zip(seg.passages, seg.contexts, strict=True)
    ]
    # The synonyms before any embedding: damaged WordNet files stop the build before its slow part.
    bm25 = BM25Index.from_tokens(bm25_tokens, params.bm25_variant, params.bm25_k1, params.bm25_b, params.bm25_delta)
    vocabulary = set(bm25.vocabulary)
    del bm25_tokens
    try:
        synonyms = synonym_table(wordnet_folder, vocabulary, params.synonym_senses) if wordnet_folder else {}
    except (ValueError, IndexError, OSError) as exc:  # a file cut short or edited by hand
        raise QAError(
            f"The WordNet files at {wordnet_folder} are damaged ({exc}); replace them "
            "(bash scripts/fetch_wordnet.sh DIR fetches a fresh copy) or build with --wordnet DIR."
        ) from exc

    previous, unusable = _previous(out)
    passage_cache: dict[str, np.ndarray] = {}
    sentence_cache: dict[str, tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = {}
    # Vectors of other weights are never reused: they mean something else, and often have another dimension.
    if previous is not None and previous.manifest["model"]["sha256"] == digest:
        passage_cache.update(zip(previous.passage_keys, np.asarray(previous.passage_vectors), strict=True))
        old_vectors = np.asarray(previous.sentence_vectors)
        for i, key in enumerate(previous.sentence_keys):
            sentence_cache[key] = (old_vectors[i], previous.sentence_tokens.quantized(i))
    known = set(passage_cache) | set(sentence_cache)
    all_keys = set(passage_keys) | set(sentence_keys)
    # What a build killed before it finished had embedded already (`Shards`).
    shards = Shards(out)
    resumed = shards.load(all_keys - known, passage_cache, sentence_cache)
    known = set(passage_cache) | set(sentence_cache)
    _embed_cached(passage_keys, passage_inputs, passage_cache, encoder, progress, "passages", False, shards, ray)
    _embed_cached(sentence_keys, sentence_inputs, sentence_cache, encoder, progress, "sentences", True, shards, ray)
    embedded = len(all_keys - known)
    reused = len(all_keys & known) - resumed
    # Read the dimension off a vector when there is one: a rebuild that reuses everything needs no model.
    dimension = len(passage_cache[passage_keys[0]]) if passage_keys else encoder.dimension
    passage_vectors = np.stack([passage_cache[k] for k in passage_keys]) if passage_keys else np.zeros((0, dimension))
    sentence_vectors = (
        np.stack([sentence_cache[k][0] for k in sentence_keys]) if sentence_keys else np.zeros((0, dimension))
    )
    sentence_tokens = TokenVectors.pack([sentence_cache[k][1] for k in sentence_keys], dimension)
    pieces = pieces_kind(params.word_pieces, len(sentence_tokens.codes), params.pq_threshold)
    notes = list(report.notes)
    if pieces == "pq" and len(sentence_tokens.codes) < PQ_CENTROIDS:
        notes.append(
            f"The word pieces were kept as int8 codes: product quantisation learns {PQ_CENTROIDS} centroids and "
            f"this corpus has {len(sentence_tokens.codes)} pieces."
        )
        pieces = "int8"
    if pieces == "pq":
        sentence_tokens = compress(sentence_tokens)

    staged = out / f".{QUERY_MODEL}.{os.getpid()}.tmp"
    query_model, no_query_model = _stage_query_model(staged, previous, out, digest, encoder)

    manifest = {
        "format_version": FORMAT_VERSION,
        "model": {"key": model.key, "name": model.name, "sha256": digest, "dimension": int(dimension)},
        "corpus": {"path": os.path.relpath(corpus.resolve(), out.resolve()), "files": fingerprint},
        "counts": {
            "documents": len(documents),
            "passages": len(seg.passages),
            "sentences": len(seg.sentences),
            "word_pieces": len(sentence_tokens.codes),
        },
        "parameters": asdict(params),
        "synonyms": {"wordnet_sha256": wordnet_digest(wordnet_folder), "words": len(synonyms)}
        if wordnet_folder
        else None,
        "query_model": query_model,
        "word_pieces": pieces,
        "vector_index": {
            "passages": chosen(params.vector_index, len(passage_keys), params.ann_threshold),
            "sentences": chosen(params.vector_index, len(sentence_keys), params.ann_threshold),
        },
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    sentence_texts = [texts[s.doc_id][s.start : s.end] for s in seg.sentences]
    stored = StoredIndex(
        manifest=manifest,
        documents=documents,
        passages=seg.passages,
        sentences=seg.sentences,
        contexts=seg.contexts,
        passage_keys=passage_keys,
        sentence_keys=sentence_keys,
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        bm25=bm25,
        sentence_tokens=sentence_tokens,
        **sentence_flags(sentence_texts),
        synonyms=synonyms,
    )
    folder = write_index(out, stored, {QUERY_MODEL: staged} if query_model else {})
    shards.clear()

    before = previous.texts if previous else {}
    return BuildSummary(
        documents=len(documents),
        passages=len(seg.passages),
        sentences=len(seg.sentences),
        seconds=time.perf_counter() - started,
        embedded=embedded,
        reused=reused,
        resumed=resumed,
        added=sorted(set(texts) - set(before)),
        removed=sorted(set(before) - set(texts)),
        changed=sorted(k for k in texts if k in before and before[k] != texts[k]),
        skipped=report.skipped,
        notes=notes,
        unusable=unusable,
        folder=str(folder),
        synonyms=len(synonyms),
        wordnet=str(wordnet_folder or ""),
        no_query_model=no_query_model,
    )


def _stage_query_model(
    staged: Path, previous: Embeddings | None, out: Path, digest: str, encoder: Encoder
) -> tuple[dict | None, str]:
    """Put the network for answering without torch (`index.query_encoder`) at `staged`: linked from the
    previous build when it came from the same weights (a rebuild that embeds nothing loads no model),
    else exported from `encoder`. Returns its manifest entry and "", or None and why it is not there."""
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.unlink(missing_ok=True)
    earlier = previous.manifest.get("query_model") if previous is not None else None
    if earlier and previous.manifest["model"]["sha256"] == digest:
        source = previous.folder / earlier["file"]
        if source.is_file() and file_hash(source) == earlier.get("sha256"):  # not damaged since
            try:
                os.link(source, staged)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(source, staged)
            return dict(earlier), ""
    try:
        encoder.export_onnx(staged)
    except Exception as exc:  # no onnx package, an encoder without a network (tests), an exporter error
        staged.unlink(missing_ok=True)
        return None, f"{exc.__class__.__name__}: {exc}".split("\n")[0][:200]
    return {"file": QUERY_MODEL, "bytes": staged.stat().st_size, "sha256": file_hash(staged)}, ""
