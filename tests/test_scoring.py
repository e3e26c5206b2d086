"""Fusion, span scoring and BM25 as pure functions of arrays and lists (no model, no index)."""

import numpy as np
import pytest
import rank_bm25

from index.bm25 import BM25Index
from qa.extract import Span, known_share, lexical_overlap, numbering, pick_spans, piece_matrix, term_weights, windows
from qa.fusion import reciprocal_rank_fusion
from qa.retrievers import BM25Retriever
from qa.types import Hit


def test_rrf_rewards_agreement_and_uses_ranks_from_one():
    bm25 = [Hit(1, 9.0), Hit(2, 5.0), Hit(3, 1.0)]
    dense = [Hit(2, 0.9), Hit(4, 0.8), Hit(1, 0.1)]
    fused = reciprocal_rank_fusion([bm25, dense], k=60)
    assert [h.index for h in fused] == [2, 1, 4, 3]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert reciprocal_rank_fusion([[Hit(7, 1.0)]], k=0)[0].score == 1.0
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([bm25], k=-1)


def test_candidates_are_runs_of_one_or_two_sentences_within_the_word_limit():
    # Three sentences of 10, 55 and 10 words: every single one, and the pairs that stay within 60 words.
    assert windows(np.array([10, 55, 10])) == [(0, 1), (1, 2), (2, 3)]
    assert windows(np.array([10, 20, 10])) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    assert windows(np.array([200])) == [(0, 1)]  # one long sentence is still a candidate
    assert windows(np.array([], dtype=int)) == []


def test_numbering_counts_section_numbers_of_a_table_of_contents():
    assert numbering("Sets 5.5. Dictionaries 5.6. Looping Techniques 5.7.") == (3, 7)
    assert numbering("The blockade started on December 12, 2022.") == (0, 7)


def test_pick_spans_keeps_the_most_probable_spans_that_do_not_overlap():
    spans = [Span(0, 2, 0.9, 0.6), Span(1, 3, 0.8, 0.6), Span(5, 6, 0.3, 0.1), Span(8, 9, 0.05, 0.5)]
    assert [(s.first, s.last) for s in pick_spans(spans, k=3, floor=0.1)] == [(0, 2), (5, 6)]
    assert [(s.first, s.last) for s in pick_spans(spans, k=1, floor=0.0)] == [(0, 2)]
    assert pick_spans(spans, k=3, floor=0.95) == []


def test_lexical_overlap_is_idf_weighted_and_counts_terms_the_corpus_lacks():
    idf = {"nile": 3.0, "river": 1.0, "the": -0.5}
    assert lexical_overlap(term_weights(["nile", "river"], idf), {"nile"}) == pytest.approx(0.75)
    assert lexical_overlap(term_weights([], idf), {"nile"}) == 0.0
    # "kids" is not in the corpus: it weighs as much as the rarest term, so "river" alone covers a
    # quarter of the question rather than all of it. A negative idf counts as 0.
    weights = term_weights(["kids", "river", "river", "the"], idf)
    assert weights == {"kids": 3.0, "river": 1.0, "the": 0.0}
    assert lexical_overlap(weights, {"river"}) == pytest.approx(0.25)
    # BM25 sees "river" and "the" of that question, a quarter of its weight; its fusion vote is that.
    assert known_share(weights, idf) == pytest.approx(0.25)
    assert known_share(term_weights(["nile"], idf), idf) == 1.0 and known_share({}, idf) == 0.0


def test_piece_matrix_holds_each_question_piece_best_cosine_per_sentence():
    e = np.eye(4, dtype=np.float32)
    question = e[[0, 1]]  # two pieces
    # Sentence 0 holds both pieces; sentence 1 has no pieces; sentence 2 holds piece 0 and a piece
    # halfway to piece 1 (cosine 0.6 with it); sentence 3 shares nothing.
    halfway = np.array([0.0, 0.6, 0.8, 0.0], dtype=np.float32)
    rows = np.stack([e[1], e[0], e[0], halfway, e[3]])
    matrix = piece_matrix(question, rows, np.array([2, 0, 2, 1]))
    assert matrix == pytest.approx(np.array([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.6, 0.0]]))
    assert piece_matrix(question[:0], rows, np.array([2, 0, 2, 1])).shape == (0, 4)
    assert piece_matrix(question, rows[:0], np.array([0, 0])).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_bm25_scores_zero_without_query_terms_and_are_remembered_per_question():
    bm25 = BM25Retriever.from_tokens([["blockad", "corridor"], ["airlift"], ["corridor", "road", "life"]])
    hits = bm25.retrieve("the corridor blockade", 5)
    assert [h.index for h in hits] == [0, 2]  # the airlift passage shares no term and is not returned
    scores = bm25.query_scores("the corridor blockade")
    assert scores[1] == 0.0 and scores[0] > scores[2] > 0
    assert bm25.query_scores("the corridor blockade") is scores and not scores.flags.writeable
    assert not bm25.query_scores("unknown words only").any()


@pytest.mark.parametrize("variant", ["BM25Plus", "BM25Okapi", "BM25L"])
def test_bm25_scores_over_stored_postings_are_rank_bm25s(variant, tmp_path):
    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(200)]
    # w0 stands in most passages, so that Okapi's idf of it is negative and floored as rank-bm25 floors it.
    passages = [[*rng.choice(vocabulary, rng.integers(1, 40)), *(["w0"] * (i % 4 != 0))] for i in range(300)]
    passages[5] = []  # an empty passage scores 0 and changes nothing else
    reference = getattr(rank_bm25, variant)([p or ["\0"] for p in passages], k1=1.2, b=0.75)
    BM25Index.from_tokens(passages, variant, 1.2, 0.75, reference.__dict__.get("delta", 1.0)).write(tmp_path)
    bm25 = BM25Retriever(BM25Index.open(tmp_path))  # read back from its memory-mapped files
    for _ in range(20):
        query = [*rng.choice(vocabulary, 4), "w0", "w3", "w3", "absent"]  # a repeated term counts twice
        known = [t for t in query if t in reference.idf]
        expected = np.asarray(reference.get_scores(known))
        if variant == "BM25Plus":  # less the share every passage gets for every query term
            expected -= sum(reference.idf[t] * reference.delta for t in known)
        assert bm25.scores(query) == pytest.approx(expected, abs=1e-9)
        assert all(bm25.idf[t] == pytest.approx(reference.idf[t], abs=1e-12) for t in known)
    assert "absent" not in bm25.idf and bm25.idf.get("absent") is None
