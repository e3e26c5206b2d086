"""Choosing the quote: pure functions from per-sentence evidence to the best span of sentences.

These spans are the candidates; the best of them are then reread by the reranker, which reads the
question and the span together (`qa.engine.Engine.reread`, `qa.reranker`).

A candidate span is 1 to `max_sentences` consecutive sentences of one passage, at most `max_words`
words, scored as a whole by a weighted sum of signals in [0, 1] (cosines in [-1, 1]):
- dense: the best cosine of one of its sentences with the question;
- pieces: for each content word piece of the question (and its asking word, `index.embed.question_pieces`),
  its best cosine with a word piece of the span, averaged: piece by piece "kids" still meets
  "children", and a question spread over two sentences is covered by the pair;
- passage: the cosine of the span's passage (context the span lacks);
- lexical: the idf-weighted share of the question's terms the span holds (a term the corpus lacks
  weighs as much as its rarest, so a paraphrase's one incidental corpus word does not carry it);
- prior and keywords: the passage's fused retrieval score and BM25 score, each over the best;
- answer type: 1 when the span holds the kind of answer asked for (a date for "when");
- related words (`with_related`, after a passage's spans are chosen): GloVe cosines for the question
  terms the span lacks ("bombarded" meets "shelled", `qa.word_vectors`).
Lexical and keywords weigh with the share of the question's terms the corpus holds at all
(`SpanWeights.seeing`): for a paraphrase the few shared words are mostly incidental.
Each sentence beyond the first costs `extra_sentence_cost`; a span that stops right before a sentence
continuing it ("If … refuse, …" before "In that case, …", `index.lead_in`) costs `cut_cost` when that
sentence would fit. The best span grows to `min_words` by its better neighbour, and the sentences left
on either side offer their own best spans for the later quotes. A span's `relevance` is the cosine
of its best sentence alone. How each weight was chosen, and what it moved: `eval/EXPERIMENTS.md`.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class SpanWeights:
    dense: float = 0.5
    pieces: float = 2.0
    passage: float = 0.75
    lexical: float = 0.5
    prior: float = 0.2
    keywords: float = 0.2
    answer_type: float = 0.2
    related: float = 0.5
    # Added to `dense` for the share of the question's term weight the corpus lacks (see `seeing`).
    dense_unseen: float = 0.5

    def __post_init__(self) -> None:
        weights = (
            self.dense,
            self.pieces,
            self.passage,
            self.lexical,
            self.prior,
            self.keywords,
            self.answer_type,
            self.related,
        )
        if min(*weights, self.dense_unseen) < 0:
            raise ValueError("span weights must not be negative")

    def seeing(self, share: float) -> SpanWeights:
        """These weights for a question of which the corpus holds `share` of the term weight (see
        `known_share`): the signals that count shared words (lexical, keywords) weigh that much, and the
        sentence cosine gains `dense_unseen` times the rest. A question whose words the corpus lacks is a
        paraphrase; the sentence vector is what the model was trained to compare across wordings."""
        return replace(
            self,
            lexical=self.lexical * share,
            keywords=self.keywords * share,
            dense=self.dense + self.dense_unseen * (1 - share),
        )


@dataclass(frozen=True)
class SpanRules:
    max_sentences: int = 3
    max_words: int = 70
    min_words: int = 30
    extra_sentence_cost: float = 0.05
    cut_cost: float = 0.2  # for stopping right before a sentence that continues the span

    def __post_init__(self) -> None:
        if self.max_sentences < 1 or self.max_words < 1:
            raise ValueError("a span holds at least one sentence and one word")
        if self.extra_sentence_cost < 0 or self.cut_cost < 0:
            raise ValueError("extra_sentence_cost and cut_cost must not be negative")


@dataclass(frozen=True)
class Span:
    first: int  # sentence numbers in the index, first inclusive, last exclusive
    last: int
    score: float  # the mixed score of the span as a whole
    relevance: float  # the cosine of the question and its best sentence
    reader: float = 0.0  # the reranker's logit for the question and the span (`Engine.reread`)


def term_weights(query_terms: list[str], idf: Mapping[str, float], highest: float | None = None) -> dict[str, float]:
    """Each distinct question term's weight: its idf (never below 0), or the highest idf of the corpus
    (`highest`, found in `idf` when not given) when the corpus does not hold the term."""
    rarest = max(max(idf.values(), default=0.0) if highest is None else highest, 0.0)
    return {t: max(idf[t], 0.0) if t in idf else rarest for t in set(query_terms)}


def related_credit(cosines: np.ndarray, floor: float) -> np.ndarray:
    """Word-vector cosines as credit in [0, 1]: 0 up to `floor`, 1 for the same direction."""
    return np.clip((cosines - floor) / (1.0 - floor), 0.0, 1.0)


def related_overlap(
    weights: Mapping[str, float], terms: Container[str], order: tuple[str, ...], credit: np.ndarray
) -> float:
    """Share of the question's term weight met by related words only: `credit` is [len(order),
    sentences of the span], each question term's (`order`) credit per sentence (`related_credit`); a term
    the span holds counts nothing here, `lexical_overlap` has counted it."""
    total = sum(weights.values())
    if total <= 0 or not order:
        return 0.0
    best = credit.max(axis=1)  # a span has at least one sentence
    return sum(weights.get(t, 0.0) * float(c) for t, c in zip(order, best, strict=True) if t not in terms) / total


def lexical_overlap(weights: dict[str, float], terms: Container[str]) -> float:
    """Share of the question's term weight whose terms occur in `terms` (0 when the question has none)."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total > 0 else 0.0


def known_share(
    weights: dict[str, float],
    idf: dict[str, float],
    synonyms: Mapping[str, list[str]] | None = None,
    synonym_weight: float = 0.0,
) -> float:
    """Share of the question's term weight (from `term_weights`) that the corpus holds: how much of the
    question BM25 can see. A term the corpus lacks but has synonyms for (`index.wordnet`) counts
    `synonym_weight` of its weight, as BM25 counts it. 0 when the question has no terms."""
    stood_in = {t for t in weights if t not in idf and synonyms and synonyms.get(t)}
    return lexical_overlap(weights, idf) + synonym_weight * lexical_overlap(weights, stood_in)


def piece_matrix(query: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[question pieces, sentences]: each question piece's best cosine with a piece of each sentence.

    `rows` stacks the piece vectors of several sentences, `counts[i]` of them for sentence i. A sentence
    without content pieces scores 0 for every question piece.
    """
    out = np.zeros((len(query), len(counts)), dtype=np.float64)
    present = np.flatnonzero(counts)
    if len(query) == 0 or len(present) == 0:
        return out
    starts = (np.cumsum(counts) - counts)[present]
    # einsum rather than `query @ rows.T`: a matrix product wakes OpenBLAS's threads, which then spin
    # beside torch's on this 2-core machine and slowed the next question's encoding from 12 to 25 ms.
    similarity = np.einsum("qd,rd->qr", query, rows)
    out[:, present] = np.maximum.reduceat(similarity, starts, axis=1)
    return out


@dataclass(frozen=True)
class PassageSignals:
    """What a span inherits from its passage."""

    cosine: float  # passage vector . question vector
    prior: float  # fused retrieval score / best fused score among the candidates
    keywords: float  # BM25 score / best BM25 score among the candidates (0 when none matched)


@dataclass(frozen=True)
class PassageEvidence:
    """What the question meets in one passage, sentence by sentence."""

    first: int  # index of the passage's first sentence
    dense: np.ndarray  # [sentences] cosine of each sentence with the question
    pieces: np.ndarray  # [question pieces, sentences], from `piece_matrix`
    terms: list[set[str]]  # per sentence, its BM25 terms
    typed: np.ndarray  # [sentences] 1 when the sentence holds the kind of answer asked for
    words: np.ndarray  # [sentences] word counts
    passage: PassageSignals
    # [sentences] True when the sentence opens by pointing back to the one before it (`index.lead_in`)
    continues: np.ndarray | None = None
    # [question terms, sentences] `related_credit` of each term of `related_terms` (none without vectors)
    related: np.ndarray | None = None
    related_terms: tuple[str, ...] = ()

    def part(self, lo: int, hi: int) -> PassageEvidence:
        """The evidence of sentences lo..hi-1 of the passage alone."""
        return PassageEvidence(
            first=self.first + lo,
            dense=self.dense[lo:hi],
            pieces=self.pieces[:, lo:hi],
            terms=self.terms[lo:hi],
            typed=self.typed[lo:hi],
            words=self.words[lo:hi],
            passage=self.passage,
            continues=None if self.continues is None else self.continues[lo:hi],
            related=None if self.related is None else self.related[:, lo:hi],
            related_terms=self.related_terms,
        )

    def cut_after(self, hi: int) -> bool:
        """Whether a span ending before sentence `hi` cuts off a sentence that continues it."""
        return self.continues is not None and hi < len(self.continues) and bool(self.continues[hi])


def span_score(
    evidence: PassageEvidence, lo: int, hi: int, terms: dict[str, float], weights: SpanWeights, rules: SpanRules
) -> float:
    """The mixed score of sentences lo..hi-1 of the passage (positions within it)."""
    pieces = evidence.pieces[:, lo:hi]
    passage = evidence.passage
    return (
        weights.dense * float(evidence.dense[lo:hi].max())
        + weights.pieces * (float(pieces.max(axis=1).mean()) if len(pieces) else 0.0)
        + weights.lexical * lexical_overlap(terms, set().union(*evidence.terms[lo:hi]))
        + weights.answer_type * float(evidence.typed[lo:hi].max())
        + weights.passage * passage.cosine
        + weights.prior * passage.prior
        + weights.keywords * passage.keywords
        - rules.extra_sentence_cost * (hi - lo - 1)
        - rules.cut_cost * (evidence.cut_after(hi) and _fits(evidence, lo, hi + 1, rules))
    )


def _fits(evidence: PassageEvidence, lo: int, hi: int, rules: SpanRules) -> bool:
    return hi - lo <= rules.max_sentences and int(evidence.words[lo:hi].sum()) <= rules.max_words


def best_span(evidence: PassageEvidence, terms: dict[str, float], weights: SpanWeights, rules: SpanRules) -> Span:
    """The best-scoring span of the passage, grown to `min_words` by the neighbour that scores best."""
    n = len(evidence.dense)
    if n == 0:
        raise ValueError("a passage has at least one sentence")

    def fits(lo: int, hi: int) -> bool:
        return hi - lo <= rules.max_sentences and int(evidence.words[lo:hi].sum()) <= rules.max_words

    windows = [(lo, hi) for lo in range(n) for hi in range(lo + 1, n + 1) if hi == lo + 1 or fits(lo, hi)]
    score, lo, hi = max((span_score(evidence, lo, hi, terms, weights, rules), lo, hi) for lo, hi in windows)
    while int(evidence.words[lo:hi].sum()) < rules.min_words:
        grown = [(lo - 1, hi)] if lo > 0 else []
        grown += [(lo, hi + 1)] if hi < n else []
        grown = [(span_score(evidence, a, b, terms, weights, rules), a, b) for a, b in grown if fits(a, b)]
        if not grown:
            break
        _, lo, hi = max(grown)
    return Span(evidence.first + lo, evidence.first + hi, score, float(evidence.dense[lo:hi].max()))


def passage_spans(
    evidence: PassageEvidence, terms: dict[str, float], weights: SpanWeights, rules: SpanRules
) -> list[Span]:
    """The passage's best span, then the best span of the sentences before it and of those after it.

    A passage can hold two answers to a question; the later ones can become the second or third quote.
    """
    best = best_span(evidence, terms, weights, rules)
    lo, hi = best.first - evidence.first, best.last - evidence.first
    rest = [evidence.part(a, b) for a, b in ((0, lo), (hi, len(evidence.dense))) if b > a]
    return [
        with_related(s, evidence, terms, weights) for s in [best] + [best_span(p, terms, weights, rules) for p in rest]
    ]


def with_related(span: Span, evidence: PassageEvidence, terms: dict[str, float], weights: SpanWeights) -> Span:
    """The span with its related-words credit added (`related_overlap`). It ranks spans among each
    other but does not choose a passage's spans: chosen with it, a span took in a sentence about
    "rights" for "entitled" and lost "The people - all people - deserve peace." (own set top 1 −1)."""
    if evidence.related is None or weights.related == 0:
        return span
    lo, hi = span.first - evidence.first, span.last - evidence.first
    held = set().union(*evidence.terms[lo:hi])
    credit = related_overlap(terms, held, evidence.related_terms, evidence.related[:, lo:hi])
    return replace(span, score=span.score + weights.related * credit)


def pick_spans(spans: list[Span], k: int, min_relevance: float, margin: float) -> list[Span]:
    """Up to k spans, best score first, none overlapping, each with relevance >= `min_relevance` and a
    score within `margin` of the best kept span's."""
    chosen: list[Span] = []
    ranked = [s for s in sorted(spans, key=lambda s: -s.score) if s.relevance >= min_relevance]
    for span in ranked:
        if len(chosen) == k or span.score < ranked[0].score - margin:
            break
        if all(span.last <= c.first or span.first >= c.last for c in chosen):
            chosen.append(span)
    return chosen
