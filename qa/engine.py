"""Answering a question from a loaded index: retrieve, fuse, extract a quote, or abstain."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from index.checks import check_index
from index.embed import Encoder, question_pieces
from index.errors import IndexMismatch
from index.query_encoder import OnnxEncoder, manifest_model, query_encoder
from index.store import StoredIndex, damaged, live_folder, read_index
from index.tables import DocumentsById
from index.tokenize import tokenize
from qa.answer_type import answer_type, holds
from qa.extract import (
    PassageEvidence,
    PassageSignals,
    Span,
    known_share,
    passage_spans,
    pick_spans,
    piece_matrix,
    term_weights,
)
from qa.fusion import reciprocal_rank_fusion
from qa.links import text_fragment
from qa.question import NOTHING_ASKED, OTHER_SCRIPT, clean_question, mostly_latin, unknown_names
from qa.reranker import Reranker, candidate_text
from qa.retrievers import BM25Retriever, DenseRetriever, SentenceDenseRetriever
from qa.settings import Settings
from qa.sources import SourceNames
from qa.types import Answer, Excerpt, Hit, Quote, citation
from qa.word_vectors import RelatedWords, load_word_vectors

NOT_ANSWERED = "The corpus does not answer this."
# A question about a named document as a whole; {} is the document's citation (`qa.types.citation`).
ABOUT_DOCUMENT = "Quotes cannot describe a whole document; please ask what you want to know from it. It is: {}"
LEAD_IN_WORDS = 80  # a second sentence of context joins only while the two stay this short


def never_mentioned(names: list[str]) -> str:
    listed = " or ".join(f"“{name}”" for name in names)
    return f"The corpus does not answer this: it never mentions {listed}."


class Engine:
    """Holds one index and the model; `answer()` is safe to call many times (the model loads once)."""

    def __init__(
        self,
        stored: StoredIndex,
        settings: Settings,
        encoder: Encoder | OnnxEncoder | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.stored = stored
        self.encoder = encoder or Encoder(model=manifest_model(stored.manifest))
        self.reranker = reranker or Reranker(threads=settings.threads)
        self.build: str | None = None  # the build folder's name, when loaded from an index directory
        table = stored.documents
        self.documents = DocumentsById(table)  # doc_id -> Document, read when asked for
        self.sources = SourceNames([table[int(i)] for i in table.described], len(table))
        self.bm25 = BM25Retriever(stored.bm25, synonyms=stored.synonyms, synonym_weight=settings.synonym_weight)
        self.sentence_vectors = stored.sentence_vectors
        self.passage_vectors = stored.passage_vectors
        self.sentence_passage = stored.sentence_passage
        passage_documents = stored.passages.rows[:, 0]
        # Each document's first passage (passages are in document order): an opening states what its
        # document is about (`spans`).
        self.openings = np.searchsorted(passage_documents, np.arange(len(table)))
        self.passage_documents = passage_documents
        self.is_record = table.records  # per document, whether it is a record of a collection
        self.sentence_words = stored.sentence_words
        # Whether a sentence opens by pointing back (`index.lead_in`): inside a passage it continues the
        # sentence before (quote scoring), and it brings that sentence along as context (`lead_in`).
        self.continues = stored.continues
        # A sentence's terms, read when it is a candidate: a record's sentences are about its title
        # (see `index.build`), so the title's terms count as theirs.
        self.sentence_terms = lru_cache(maxsize=65536)(self._sentence_terms)
        self.dense = DenseRetriever(stored.passage_index, self.encode)
        self.dense_sentences = SentenceDenseRetriever(stored.sentence_index, self.sentence_passage, self.encode)
        self.encode_cached = lru_cache(maxsize=512)(self._encode)
        # GloVe vectors for the question words a quote says otherwise (None when not installed).
        self.word_vectors = load_word_vectors(settings.word_vectors)
        self.related = (
            RelatedWords(self.word_vectors, self.sentence_text, settings.related_floor) if self.word_vectors else None
        )

    @classmethod
    def load(cls, settings: Settings, encoder: Encoder | OnnxEncoder | None = None) -> Engine:
        """The index at `settings.index`, checked against the corpus and the model. Questions are encoded
        by `encoder`, or by the network the build exported (`index.query_encoder`), without torch."""
        out = Path(settings.index)
        folder = live_folder(out)
        stored = read_index(out, folder)
        check_index(stored.manifest, out, settings.corpus)
        if encoder is None:
            try:
                encoder = query_encoder(folder, stored.manifest, threads=settings.threads)
            except IndexMismatch as exc:
                raise damaged(out, str(exc), settings.corpus) from exc
        engine = cls(stored, settings, encoder, Reranker(threads=settings.threads))
        engine.build = folder.name
        return engine

    def _sentence_terms(self, i: int) -> frozenset[str]:
        terms = set(tokenize(self.sentence_text(i)))
        passage = int(self.sentence_passage[i])
        if self.is_record[self.passage_documents[passage]]:
            terms.update(tokenize(self.stored.contexts[passage]))
        return frozenset(terms)

    def _encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        pick = partial(question_pieces, asking_weight=self.settings.asking_weight)
        vectors, pieces = self.encoder.encode_tokens([text], pick=pick)
        return vectors[0], pieces[0]

    def encode(self, text: str) -> np.ndarray:
        """The question's vector (cached: retrieval, abstention and scoring all ask for it)."""
        return self.encode_cached(text)[0]

    def pieces(self, text: str) -> np.ndarray:
        """The vectors of the question's content word pieces and its asking word (`question_pieces`), from
        the same forward pass."""
        return self.encode_cached(text)[1]

    def forget(self) -> None:
        """Drop what was remembered of earlier questions (vectors, BM25 scores, the sentence search)."""
        self.encode_cached.cache_clear()
        self.bm25.forget()
        self.dense_sentences.forget()

    def warm_up(self) -> None:
        """Load the networks and run them once, so the first real question is as fast as the rest."""
        self.encode("warm up")
        self.reranker.score("warm up", ["warm up"])

    def rank(self, query: str, mode: str) -> list[Hit]:
        n = self.settings.candidates
        if mode == "bm25":
            return self.bm25.retrieve(query, n)
        rankings = [self.dense.retrieve(query, n), self.dense_sentences.retrieve(query, n)]
        weights = [1.0, 1.0]
        if mode == "hybrid":
            # BM25 votes with the share of the question's words it can see: a paraphrase whose words
            # are mostly not in the corpus ("What explosive devices is Yerevan accused of moving?")
            # would otherwise put the passages that merely share its corpus words ("Yerevan") first.
            rankings.insert(0, self.bm25.retrieve(query, n))
            weights.insert(0, self.question_terms(query)[1])
        return reciprocal_rank_fusion(rankings, k=self.settings.rrf_k, weights=weights)

    def question_terms(self, query: str) -> tuple[dict[str, float], float]:
        """The question's BM25 terms with their weights (`term_weights`), and the share of that weight
        the corpus holds (`known_share`), a term it lacks counting by its synonyms."""
        idf = self.bm25.idf
        terms = term_weights(tokenize(query), idf, self.stored.bm25.highest_idf)
        return terms, known_share(terms, idf, self.stored.synonyms, self.settings.synonym_weight)

    def synonyms_used(self, query: str) -> dict[str, list[str]]:
        """The question's terms the corpus lacks that BM25 counts through synonyms, with those synonyms
        (stems, as BM25 sees them)."""
        return {t: self.stored.synonyms[t] for t in dict.fromkeys(tokenize(query)) if t in self.stored.synonyms}

    def confidence(self, query: str) -> tuple[float, int | None]:
        """The best cosine of the question with any sentence of the corpus, and that sentence's passage.
        Abstention reads it with the reranker's logit (`answer`)."""
        found = self.dense_sentences.sentences(query, self.settings.candidates)  # the search retrieval made
        if not found:
            return float("-inf"), None
        sentence, cosine = found[0]
        return cosine, int(self.sentence_passage[sentence])

    def spans(self, query: str, hits: list[Hit], must: int | None = None, wanted: str | None = None) -> list[Span]:
        """Candidate spans from each of the top passages (and from passage `must`), see `passage_spans`."""
        if not hits:
            return []
        q_vec = self.encode(query)
        terms, share = self.question_terms(query)
        weights = self.settings.weights.seeing(share)
        wanted = wanted or answer_type(query)
        top = hits[: self.settings.rerank]
        # The passage of the closest sentence, and the opening passage of each document found: an opening
        # states what its document is about (the article's lede: when, who, what; the thread's first post:
        # who its author is), which questions ask for but seldom in its words.
        openings = [int(self.openings[d]) for d in dict.fromkeys(int(self.passage_documents[h.index]) for h in top)]
        for extra in [*([must] if must is not None else []), *openings]:
            if all(h.index != extra for h in top):
                top.append(Hit(extra, min(h.score for h in top)))
        best_fused = max(h.score for h in top) or 1.0
        keywords = self.bm25.query_scores(query)
        best_keywords = max(keywords[h.index] for h in top)
        groups = [np.arange(p.first_sentence, p.last_sentence) for p in (self.stored.passages[h.index] for h in top)]
        # One product for the pieces of every candidate sentence, split back per passage.
        matched = piece_matrix(self.pieces(query), *self.stored.sentence_tokens.gather(np.concatenate(groups)))
        bounds = np.cumsum([len(g) for g in groups])[:-1]
        per_passage = np.split(matched, bounds, axis=1)
        order, related = self.related.credit(query, terms, np.concatenate(groups)) if self.related else ((), None)
        per_passage_related = np.split(related, bounds, axis=1) if related is not None else [None] * len(groups)
        spans = []
        for hit, ids, pieces, near in zip(top, groups, per_passage, per_passage_related, strict=True):
            evidence = PassageEvidence(
                first=int(ids[0]),
                dense=np.asarray(self.sentence_vectors[ids]) @ q_vec,
                pieces=pieces,
                terms=[self.sentence_terms(int(i)) for i in ids],
                typed=np.array([holds(self.sentence_text(i), wanted) for i in ids], dtype=np.float64),
                words=self.sentence_words[ids],
                continues=self.continues[ids],
                related=near,
                related_terms=order,
                passage=PassageSignals(
                    cosine=float(self.passage_vectors[hit.index] @ q_vec),
                    prior=hit.score / best_fused,
                    keywords=float(keywords[hit.index] / best_keywords) if best_keywords > 0 else 0.0,
                ),
            )
            spans.extend(passage_spans(evidence, terms, weights, self.settings.rules))
        return spans

    def reread(self, query: str, spans: list[Span]) -> list[Span]:
        """The best `settings.reread` spans, each rescored with the reranker's reading of the question and
        the span together (`qa.reranker`): score + `reader_weight` × its logit. The others are dropped: a
        quote is one the reranker has read."""
        ranked = sorted(spans, key=lambda s: -s.score)
        documents = {int(self.passage_documents[self.sentence_passage[s.first]]) for s in ranked}
        opening = {int(self.openings[d]) for d in documents if not self.is_record[d]}
        top = ranked[: self.settings.reread]
        # A document's opening is always read: it states what the rest is about, seldom in a question's words.
        # Not a record's (a gloss, a paragraph of a collection): it is the whole record, about its title.
        top += [s for s in ranked[self.settings.reread :] if self.sentence_passage[s.first] in opening]
        if not top:
            return []
        logits = self.reranker.score(query, [self.span_text(s) for s in top])
        weight = self.settings.reader_weight
        return [
            replace(s, score=s.score + weight * float(r), reader=float(r)) for s, r in zip(top, logits, strict=True)
        ]

    def span_text(self, span: Span) -> str:
        """What the reranker reads for a span: where it stands (`candidate_text`), then its sentences."""
        first, last = self.stored.sentences[span.first], self.stored.sentences[span.last - 1]
        doc = self.documents[first.doc_id]
        return candidate_text(doc, self.stored.contexts[first.passage], doc.text[first.start : last.end])

    def sentence_text(self, i: int) -> str:
        return self.stored.sentences.text(i)

    def quote(self, span: Span) -> Quote:
        first, last = self.stored.sentences[span.first], self.stored.sentences[span.last - 1]
        doc = self.documents[first.doc_id]
        passage = self.stored.passages[first.passage]
        return Quote(
            doc_id=doc.doc_id,
            start=first.start,
            end=last.end,
            text=doc.text[first.start : last.end],
            locator=passage.locator,
            score=round(span.score, 4),
            relevance=round(span.relevance, 4),
            title=doc.title,
            author=doc.author,
            publisher=doc.publisher,
            url=doc.url,
            kind=doc.kind,
            context=self.lead_in(span.first),
            link=text_fragment(doc.url, doc.text, first.start, last.end),
        )

    def lead_in(self, first: int) -> Excerpt | None:
        """The sentence before sentence `first` when `first` opens by pointing back to it (`points_back`),
        and the one before that too when the first of them points back as well ("They are evidently
        state-sponsored …" before "They use … intimidation tactics"), within `LEAD_IN_WORDS` words; all
        in one document under one heading. None when the quote stands on its own."""
        start = first
        while first - start < 2 and self._points_back(start):
            if start < first and int(self.sentence_words[start - 1 : first].sum()) > LEAD_IN_WORDS:
                break
            start -= 1
        if start == first:
            return None
        a, b = self.stored.sentences[start], self.stored.sentences[first - 1]
        return Excerpt(a.start, b.end, self.documents[a.doc_id].text[a.start : b.end])

    def _points_back(self, i: int) -> bool:
        """Sentence i opens by pointing back, and the sentence before it is in its document and section."""
        if i == 0:
            return False
        sentence, before = self.stored.sentences[i], self.stored.sentences[i - 1]
        same_section = self.stored.contexts[before.passage] == self.stored.contexts[sentence.passage]
        return before.doc_id == sentence.doc_id and same_section and bool(self.continues[i])

    def answer(
        self,
        question: str,
        mode: str | None = None,
        k: int | None = None,
        search: str | None = None,
        threshold: float | None = None,
    ) -> Answer:
        """Answer `question`; `search` is the text to retrieve with when it differs (a resolved follow-up).

        `threshold` overrides the abstention threshold (the evaluation runs with -inf to see every score).
        """
        started = time.perf_counter()
        settings = self.settings
        question = clean_question(question, settings.max_question_chars)
        query = clean_question(search, settings.max_question_chars) if search else question
        if not search:  # "what does she do", asked first, on a corpus with one author: about the author
            query = self.sources.resolve_author(query)
        if not mostly_latin(query):
            return Answer(question, [], True, notice=OTHER_SCRIPT)
        if not self.question_terms(query)[0]:  # "What is it?": any quote would be a guess
            return Answer(question, [], True, notice=NOTHING_ASKED)
        named = self.sources.named(query)
        if self.sources.about_itself(query, named):
            docs = [self.documents[d] for d in sorted(named)]
            described = "; ".join(citation(d.title, d.author, d.publisher, None, d.url) for d in docs)
            return Answer(question, [], True, notice=ABOUT_DOCUMENT.format(described))
        looked_for = self.sources.unnamed(query)  # "according to the article" says where, not what
        timings = {}
        t0 = time.perf_counter()
        self.encode(looked_for)
        timings["encode"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        hits = self.rank(looked_for, mode or settings.mode)
        cosine, best_passage = self.confidence(looked_for)
        if named:  # "according to the thread": quote that document only
            hits = [h for h in hits if self.stored.passages[h.index].doc_id in named]
            if best_passage is not None and self.stored.passages[best_passage].doc_id not in named:
                best_passage = None
        timings["retrieve"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        # A follow-up's own opening says what it asks for ("Since when?" after "Who is blocking it?").
        spans = self.spans(looked_for, hits, best_passage, wanted=answer_type(question))
        timings["extract"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        spans = self.reread(looked_for, spans)
        timings["rerank"] = (time.perf_counter() - t0) * 1000
        # Abstention reads the best sentence's cosine and what the reranker made of the best span: a
        # logit below 0 says it found no answer there (`qa.reranker`).
        best_reader = max(spans, key=lambda s: s.score).reader if spans else 0.0
        confidence = cosine + settings.reader_confidence * best_reader
        threshold = settings.threshold if threshold is None else threshold
        # Not a matter of the threshold, so none lifts these (the evaluation's -inf included).
        # A name of two words or more that the corpus lacks is refused outright ("Vladimir Putin"); a
        # one-word name may be said another way ("Baku" for Azerbaijan), so it needs a strong match.
        unknown = unknown_names(looked_for, self.bm25.idf, self.stored.synonyms)
        weak = cosine < settings.strong_cosine
        unknown = [n for n in unknown if " " in n] or (unknown if weak else [])
        foreign = self.question_terms(looked_for)[1] <= settings.foreign_share and weak
        chosen = []
        if confidence >= threshold and not unknown and not foreign:
            chosen = pick_spans(spans, k or settings.quotes, settings.quote_floor, settings.quote_margin)
        related: list[Quote] = []
        if not chosen:
            related = [self.quote(s) for s in pick_spans(spans, k or settings.quotes, float("-inf"), float("inf"))]
        timings["total"] = (time.perf_counter() - started) * 1000
        return Answer(
            question=question,
            quotes=[self.quote(s) for s in chosen],
            abstained=not chosen,
            confidence=round(confidence, 4),
            related=related,
            notice=(never_mentioned(unknown) if unknown else NOT_ANSWERED) if not chosen else None,
            searched=query if query != question else None,
            only_from=sorted(self.documents[d].title for d in named),
            timings_ms=timings,
        )
