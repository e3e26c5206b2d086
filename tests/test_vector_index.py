"""The approximate vector index: chosen by size, recorded in the manifest, and answering as flat does."""

from __future__ import annotations

import numpy as np
import pytest

from index.build import BuildParams, build
from index.store import read_index, read_manifest
from index.vector_index import chosen
from qa.engine import Engine
from qa.settings import Settings

QUESTIONS = [
    "when did the blockade start",
    "who is rebecca vincent",
    "how many children are stranded in armenia",
    "what should be done about it",
    "Which city was shelled according to the thread?",
]


def test_auto_is_flat_below_the_threshold_and_ann_above():
    assert (chosen("auto", 10, threshold=100), chosen("auto", 100, threshold=100)) == ("flat", "ann")
    assert (chosen("flat", 10**7), chosen("ann", 1)) == ("flat", "ann")
    with pytest.raises(ValueError):
        BuildParams(vector_index="fast")


def test_ann_and_flat_agree_on_a_small_index_with_the_threshold_forced_low(seed_corpus, seed_index, encoder, tmp_path):
    out = tmp_path / "ann"
    build(seed_corpus, out, encoder, params=BuildParams(ann_threshold=50))
    assert read_manifest(out)["vector_index"] == {"passages": "ann", "sentences": "ann"}
    assert read_manifest(seed_index)["vector_index"] == {"passages": "flat", "sentences": "flat"}
    stored = read_index(out)
    assert hasattr(stored.sentence_index, "hnsw") and not hasattr(read_index(seed_index).sentence_index, "hnsw")
    flat_engine, ann_engine = Engine.load(Settings(index=seed_index)), Engine.load(Settings(index=out))
    for question in QUESTIONS:
        flat_hits = [(h.index, round(h.score, 6)) for h in flat_engine.rank(question, "dense")]
        ann_hits = [(h.index, round(h.score, 6)) for h in ann_engine.rank(question, "dense")]
        assert ann_hits[:10] == flat_hits[:10]
        flat, ann = flat_engine.answer(question), ann_engine.answer(question)
        assert [(q.doc_id, q.start, q.end) for q in ann.quotes] == [(q.doc_id, q.start, q.end) for q in flat.quotes]
    # The latency benchmark reports the graphs' recall against exact search of the same vectors.
    from eval.latency import measure

    recall = measure(out, QUESTIONS)["ann_recall_at_10"]
    assert set(recall) == {"passages", "sentences"} and min(recall.values()) >= 0.9
    # A rebuild reuses the stored vectors.
    again = build(seed_corpus, out, encoder, params=BuildParams(ann_threshold=50))
    assert again.embedded == 0
    assert np.allclose(read_index(out).sentence_vectors, stored.sentence_vectors)


def test_word_pieces_compressed_by_product_quantisation_stay_close_and_answer(
    seed_corpus, seed_index, encoder, tmp_path
):
    out = tmp_path / "pq"
    build(seed_corpus, out, encoder, params=BuildParams(word_pieces="pq"))
    assert read_manifest(out)["word_pieces"] == "pq" and read_manifest(seed_index)["word_pieces"] == "int8"
    pq, plain = read_index(out).sentence_tokens, read_index(seed_index).sentence_tokens
    assert pq.codes.shape == (len(plain.codes), 48) and pq.codes.dtype == np.uint8  # 48 bytes a piece, not 388
    ids = np.arange(len(plain))
    a, counts = pq.gather(ids)
    b, same = plain.gather(ids)
    assert np.array_equal(counts, same)
    cosines = np.sum(a * b, axis=1) / np.linalg.norm(b, axis=1)
    assert cosines.mean() > 0.9 and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    engine, exact = Engine.load(Settings(index=out)), Engine.load(Settings(index=seed_index))
    top = [(a.quotes or a.related)[0] for a in map(engine.answer, QUESTIONS)]
    assert all(q.text == engine.documents[q.doc_id].text[q.start : q.end] for q in top)
    same = [
        (q.doc_id, q.start) == ((e.quotes or e.related)[0].doc_id, (e.quotes or e.related)[0].start)
        for q, e in zip(top, map(exact.answer, QUESTIONS), strict=True)
    ]
    assert sum(same) >= 4, same  # the quote first is the same for (nearly) every question
    # A corpus with fewer pieces than centroids keeps int8 codes and says so.
    from tests.conftest import write_corpus

    tiny = write_corpus(tmp_path / "tiny", {"a.txt": "The Sahara is a desert. It is hot."})
    summary = build(tiny, tmp_path / "tiny-index", encoder, params=BuildParams(word_pieces="pq"))
    assert "The word pieces were kept as int8 codes" in "\n".join(summary.lines())
    assert read_manifest(tmp_path / "tiny-index")["word_pieces"] == "int8"
    # A rebuild reuses them (as int8 codes decoded from the centroids) and embeds nothing.
    assert build(seed_corpus, out, encoder, params=BuildParams(word_pieces="pq")).embedded == 0
