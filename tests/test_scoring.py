"""Fusion, span scoring and BM25 as pure functions of arrays and lists (no model, no index)."""

from dataclasses import replace

import numpy as np
import pytest
import rank_bm25

from index.bm25 import BM25Index
from qa.extract import (
    PassageEvidence,
    PassageSignals,
    Span,
    SpanRules,
    SpanWeights,
    best_span,
    known_share,
    lexical_overlap,
    passage_spans,
    pick_spans,
    piece_matrix,
    related_credit,
    related_overlap,
    span_score,
    term_weights,
)
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


PLAIN = PassageSignals(cosine=0.0, prior=0.0, keywords=0.0)
ONLY_PIECES = SpanWeights(dense=0.0, pieces=1.0, passage=0.0, lexical=0.0, prior=0.0, keywords=0.0, answer_type=0.0)


def evidence(pieces, words, first=100, passage=PLAIN):
    pieces = np.array(pieces, dtype=np.float64)
    n = pieces.shape[1]
    return PassageEvidence(first, np.zeros(n), pieces, [set() for _ in range(n)], np.zeros(n), np.array(words), passage)


def test_a_span_is_scored_as_a_whole_so_two_sentences_can_cover_one_question():
    # Question pieces: "Nakhichevan", "trade". Sentence 1 names Nakhichevan, sentence 2 ("It has
    # trade ...") the trade; sentence 0 neither.
    ev = evidence([[0.1, 1.0, 0.2], [0.1, 0.1, 1.0]], [10, 10, 10])
    rules = SpanRules(max_sentences=3, max_words=70, min_words=0, extra_sentence_cost=0.05)
    span = best_span(ev, {}, ONLY_PIECES, rules)
    assert (span.first, span.last) == (101, 103)
    assert span.score == pytest.approx(1.0 - 0.05)
    # When a second sentence costs more than it brings, the best sentence stays alone.
    alone = best_span(ev, {}, ONLY_PIECES, SpanRules(min_words=0, extra_sentence_cost=0.6))
    assert (alone.first, alone.last, alone.score) == (102, 103, pytest.approx(0.6))
    # The word limit holds however much a longer span would cover.
    capped = best_span(ev, {}, ONLY_PIECES, SpanRules(max_words=15, min_words=0, extra_sentence_cost=0.05))
    assert capped.last - capped.first == 1


def test_a_short_best_span_grows_to_min_words_by_its_better_neighbour():
    ev = evidence([[0.3, 1.0, 0.6, 0.0]], [10, 2, 10, 10])
    rules = SpanRules(max_sentences=3, max_words=40, min_words=8, extra_sentence_cost=0.5)
    span = best_span(ev, {}, ONLY_PIECES, rules)
    assert (span.first, span.last, span.score) == (101, 103, 1.0)  # scored before it grew
    assert span.relevance == 0.0  # the best sentence cosine (all zero here)
    with pytest.raises(ValueError):
        SpanRules(extra_sentence_cost=-1)


def test_a_span_does_not_stop_right_before_a_sentence_that_continues_it():
    # Sentence 0 matches the question; sentence 1 opens "In that case, …" (it continues sentence 0).
    ev = replace(evidence([[1.0, 0.0, 0.0]], [10, 10, 10]), continues=np.array([False, True, False]))
    rules = SpanRules(max_sentences=3, max_words=70, min_words=0, extra_sentence_cost=0.05, cut_cost=0.2)
    span = best_span(ev, {}, ONLY_PIECES, rules)
    assert (span.first, span.last, span.score) == (100, 102, pytest.approx(1.0 - 0.05))
    # Without the cost, or when nothing continues it, the matching sentence stands alone.
    assert (best_span(ev, {}, ONLY_PIECES, replace(rules, cut_cost=0.0)).last, span.last) == (101, 102)
    plain = evidence([[1.0, 0.0, 0.0]], [10, 10, 10])
    assert best_span(plain, {}, ONLY_PIECES, rules).last == 101
    # Where the continuation cannot join (the word limit), no quote could hold it: no cost.
    tight = best_span(ev, {}, ONLY_PIECES, replace(rules, max_words=15))
    assert (tight.first, tight.last, tight.score) == (100, 101, pytest.approx(1.0))


def test_a_passage_offers_the_best_spans_on_either_side_of_its_best_one():
    ev = evidence([[0.6, 0.0, 1.0, 0.0, 0.7]], [30, 30, 30, 30, 30])
    rules = SpanRules(max_sentences=3, max_words=70, min_words=0, extra_sentence_cost=0.1)
    spans = passage_spans(ev, {}, ONLY_PIECES, rules)
    assert [(s.first, s.last) for s in spans] == [(102, 103), (100, 101), (104, 105)]
    assert [s.score for s in spans] == pytest.approx([1.0, 0.6, 0.7])
    edge = evidence([[1.0, 0.2]], [30, 30])
    assert [(s.first, s.last) for s in passage_spans(edge, {}, ONLY_PIECES, rules)] == [(100, 101), (101, 102)]


def test_passage_signals_add_the_same_to_every_span_of_the_passage():
    weights = SpanWeights(
        dense=0.5, pieces=1.0, passage=0.5, lexical=0.5, prior=0.25, keywords=0.25, answer_type=0.2, dense_unseen=0.4
    )
    rules = SpanRules(extra_sentence_cost=0.1)
    weak = evidence([[0.2, 0.6]], [5, 5], passage=PassageSignals(cosine=0.2, prior=0.5, keywords=0.0))
    strong = evidence([[0.2, 0.6]], [5, 5], passage=PassageSignals(cosine=0.2, prior=0.5, keywords=1.0))
    for lo, hi in ((0, 1), (1, 2), (0, 2)):
        gain = span_score(strong, lo, hi, {}, weights, rules) - span_score(weak, lo, hi, {}, weights, rules)
        assert gain == pytest.approx(0.25)
    assert span_score(weak, 0, 2, {}, weights, rules) == pytest.approx(0.6 + 0.1 + 0.125 - 0.1)
    with pytest.raises(ValueError):
        SpanWeights(keywords=-0.1)
    # For a question whose words the corpus mostly lacks, shared words count for less, its vector for more.
    seen = weights.seeing(0.25)
    assert (seen.lexical, seen.keywords, seen.dense) == pytest.approx((0.125, 0.0625, 0.5 + 0.4 * 0.75))
    assert (seen.pieces, seen.passage, seen.prior) == (1.0, 0.5, 0.25)
    assert weights.seeing(1.0).dense == 0.5


def test_pick_spans_skips_irrelevant_and_overlapping_spans():
    spans = [
        Span(0, 2, 1.0, 0.6),
        Span(1, 3, 0.95, 0.6),
        Span(5, 6, 0.9, 0.1),
        Span(8, 9, 0.5, 0.5),
        Span(10, 11, 0.8, 0.4),
    ]
    chosen = pick_spans(spans, k=3, min_relevance=0.2, margin=0.3)
    assert [(s.first, s.last) for s in chosen] == [(0, 2), (10, 11)]
    assert pick_spans(spans, k=3, min_relevance=0.9, margin=0.3) == []


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


def test_related_words_credit_only_the_terms_a_span_lacks():
    # Cosines up to the floor count nothing; from there to 1 they rise to full credit.
    assert related_credit(np.array([0.2, 0.4, 0.7, 1.0]), 0.4) == pytest.approx([0.0, 0.0, 0.5, 1.0])
    weights = {"bombard": 3.0, "war": 1.0}
    credit = np.array([[0.5, 0.2], [0.9, 0.9]])  # [question terms, sentences of the span]
    # "war" is in the span, so lexical_overlap has counted it; "bombard" meets "shelled" at its best.
    assert related_overlap(weights, {"war"}, ("bombard", "war"), credit) == pytest.approx(3.0 * 0.5 / 4.0)
    assert related_overlap(weights, {"war", "bombard"}, ("bombard", "war"), credit) == 0.0
    assert related_overlap(weights, set(), (), np.zeros((0, 2))) == 0.0


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
