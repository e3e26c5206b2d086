"""`python -m eval synthetic --source DIR --passages N --out DIR`: a large index for measuring scale.

No corpus of a million passages exists here, and embedding one on 2 cores would take days, so this
makes one from a built index of real text (the WordNet glosses' index, say): records of ten
paragraphs, each paragraph two or three sentences drawn at random from the source's sentences. Each
drawn sentence keeps its **real** vector (plus Gaussian noise, renormalised, so that copies of one
sentence are not exact ties) and its real word-piece vectors; a passage's vector is the renormalised
mean of its sentences' vectors, a stand-in for embedding it. The text, BM25, documents, locators
and vector indexes are what a build makes of it, written by the build's own writer
(`index.store.write_index`), and the corpus file is written beside it, so `Engine.load` checks and
serves it like any index. The questions are encoded by the source's real network.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from index.build import BuildParams, content_key, sentence_flags
from index.ingest import corpus_fingerprint
from index.store import (
    FORMAT_VERSION,
    StoredIndex,
    TokenVectors,
    compress,
    live_folder,
    pieces_kind,
    read_index,
    write_index,
)
from index.tokenize import tokenize
from index.types import Document, Passage, Sentence
from index.vector_index import chosen
from index.wordnet import find_wordnet, synonym_table, wordnet_digest

PARAGRAPHS = 10  # passages per record
NOISE = 0.01  # per dimension, on a unit vector of 384: |noise| ≈ 0.2
CHUNK = 200_000  # sentences whose vectors are made at once


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".;:")
    return text[:1].upper() + text[1:] + "."


def generate(source: Path, passages: int, out: Path, seed: int = 0, progress: bool = True) -> dict:
    started = time.perf_counter()
    say = print if progress else (lambda *a, **k: None)
    real = read_index(source)
    rng = np.random.default_rng(seed)
    n_source = len(real.sentences)
    records = -(-passages // PARAGRAPHS)
    sizes = rng.choice([2, 3], size=passages, p=[0.5, 0.5])  # sentences per passage: 2.5 on average
    picks = rng.integers(0, n_source, int(sizes.sum()))  # the source sentence behind each sentence
    texts = [_sentence(real.sentences.text(int(i))) for i in np.unique(picks)]
    text_of = dict(zip(np.unique(picks).tolist(), texts, strict=True))
    say(f"{passages} passages, {len(picks)} sentences from {len(text_of)} distinct source sentences")

    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    documents, all_passages, sentences, contexts = [], [], [], []
    sentence_at = 0
    with (corpus / "synthetic.jsonl").open("w", encoding="utf-8") as handle:
        for r in range(records):
            title = real.contexts[int(real.sentence_passage[int(picks[sentence_at])])] or f"record {r}"
            doc_id = f"synthetic.jsonl#s{r}"
            paragraphs, spans, start = [], [], 0
            for p in range(r * PARAGRAPHS, min(passages, (r + 1) * PARAGRAPHS)):
                words = [text_of[int(i)] for i in picks[sentence_at : sentence_at + sizes[p]]]
                offsets = []
                for w in words:
                    offsets.append((start, start + len(w)))
                    start += len(w) + 1
                start += 1  # the blank line between paragraphs
                paragraphs.append(" ".join(words))
                spans.append(offsets)
                sentence_at += sizes[p]
            text = "\n\n".join(paragraphs)
            handle.write(json.dumps({"id": f"s{r}", "title": title, "text": text}, ensure_ascii=False) + "\n")
            documents.append(Document(doc_id, title, None, None, None, None, text))
            for n, offsets in enumerate(spans, 1):
                first = len(sentences)
                sentences.extend(Sentence(doc_id, a, b, len(all_passages)) for a, b in offsets)
                all_passages.append(
                    Passage(doc_id, offsets[0][0], offsets[-1][1], f"paragraph {n}", first, len(sentences))
                )
                contexts.append(title)
    say(f"text written: {len(documents)} records ({time.perf_counter() - started:.0f} s)")

    scratch = out / ".scratch"
    scratch.mkdir(exist_ok=True)
    dimension = real.manifest["model"]["dimension"]
    sentence_vectors = np.lib.format.open_memmap(scratch / "s.npy", "w+", np.float32, (len(picks), dimension))
    for lo in range(0, len(picks), CHUNK):
        block = np.asarray(real.sentence_vectors[np.sort(picks[lo : lo + CHUNK])], dtype=np.float32)
        block = block[np.argsort(np.argsort(picks[lo : lo + CHUNK], kind="stable"), kind="stable")]
        block += rng.normal(0, NOISE, block.shape).astype(np.float32)
        sentence_vectors[lo : lo + CHUNK] = block / np.linalg.norm(block, axis=1, keepdims=True)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    passage_vectors = np.add.reduceat(sentence_vectors, bounds[:-1], axis=0)
    passage_vectors /= np.linalg.norm(passage_vectors, axis=1, keepdims=True)
    # The word pieces of each drawn sentence: its source's rows, copied in order.
    source_tokens = real.sentence_tokens
    counts = np.diff(np.asarray(source_tokens.offsets))[picks]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    codes = np.lib.format.open_memmap(scratch / "c.npy", "w+", np.int8, (int(offsets[-1]), dimension))
    scales = np.lib.format.open_memmap(scratch / "k.npy", "w+", np.float32, (int(offsets[-1]),))
    for lo in range(0, len(picks), CHUNK):
        rows, _ = source_tokens.rows(picks[lo : lo + CHUNK])
        codes[offsets[lo] : offsets[min(lo + CHUNK, len(picks))]] = source_tokens.codes[rows]
        scales[offsets[lo] : offsets[min(lo + CHUNK, len(picks))]] = source_tokens.scales[rows]
    tokens = TokenVectors(codes, scales, offsets)
    pieces = pieces_kind(BuildParams().word_pieces, len(codes))
    if pieces == "pq":
        tokens = compress(tokens)
    say(f"vectors drawn, {len(codes)} word pieces stored as {pieces} ({time.perf_counter() - started:.0f} s)")

    sentence_texts = [text_of[int(i)] for i in picks]
    from index.bm25 import BM25Index

    params = BuildParams()
    bm25 = BM25Index.from_tokens(
        [tokenize(f"{c} {d.text[p.start : p.end]}") for p, c, d in _with_documents(all_passages, contexts, documents)],
        params.bm25_variant,
        params.bm25_k1,
        params.bm25_b,
        params.bm25_delta,
    )
    wordnet = find_wordnet()
    synonyms = synonym_table(wordnet, set(bm25.vocabulary), params.synonym_senses) if wordnet else {}
    say(f"BM25 and synonyms ({time.perf_counter() - started:.0f} s)")
    digest = real.manifest["model"]["sha256"]
    source_folder = live_folder(source)
    query_model = real.manifest.get("query_model")
    staged = out / ".query_model.tmp"
    if query_model:
        staged.unlink(missing_ok=True)
        try:
            os.link(source_folder / query_model["file"], staged)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(source_folder / query_model["file"], staged)
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": real.manifest["model"],
        "corpus": {
            "path": os.path.relpath(corpus.resolve(), (out / "index").resolve()),
            "files": corpus_fingerprint(corpus),
        },
        "counts": {
            "documents": len(documents),
            "passages": len(all_passages),
            "sentences": len(sentences),
            "word_pieces": int(offsets[-1]),
        },
        "parameters": asdict(params),
        "word_pieces": pieces,
        "synonyms": {"wordnet_sha256": wordnet_digest(wordnet), "words": len(synonyms)} if wordnet else None,
        "query_model": query_model,
        "vector_index": {
            "passages": chosen(params.vector_index, len(all_passages), params.ann_threshold),
            "sentences": chosen(params.vector_index, len(sentences), params.ann_threshold),
        },
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "synthetic": {"source": str(source), "seed": seed, "noise": NOISE, "source_sentences": n_source},
    }
    stored = StoredIndex(
        manifest=manifest,
        documents=documents,
        passages=all_passages,
        sentences=sentences,
        contexts=contexts,
        passage_keys=[content_key(digest, f"synthetic passage {i}") for i in range(len(all_passages))],
        sentence_keys=[content_key(digest, f"synthetic sentence {i}") for i in range(len(sentences))],
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        bm25=bm25,
        sentence_tokens=tokens,
        **sentence_flags(sentence_texts),
        synonyms=synonyms,
    )
    say(f"writing the index and its vector indexes ({time.perf_counter() - started:.0f} s)")
    folder = write_index(out / "index", stored, {query_model["file"]: staged} if query_model else {})
    shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    say(f"done in {seconds:.0f} s: {folder}")
    return {**manifest["counts"], "seconds": seconds, "folder": str(folder)}


def _with_documents(passages, contexts, documents):
    by_id = {d.doc_id: d for d in documents}
    for p, c in zip(passages, contexts, strict=True):
        yield p, c, by_id[p.doc_id]
