"""Answering a question from a loaded index: retrieve, fuse, extract a quote, or abstain."""

from __future__ import annotations

import time
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
from qa.extract import Span, known_share, lexical_overlap, numbering, pick_spans, piece_matrix, term_weights, windows
from qa.fusion import reciprocal_rank_fusion
from qa.links import text_fragment
from qa.question import NOTHING_ASKED, OTHER_SCRIPT, clean_question, mostly_latin, normal_form
from qa.reranker import Reranker, candidate_text
from qa.retrievers import BM25Retriever, DenseRetriever, SentenceDenseRetriever
from qa.scorer import FEATURES, SCORER_FILE, Scorer
from qa.settings import Settings
from qa.sources import SourceNames
from qa.types import Answer, Excerpt, Hit, Quote, citation

NOT_ANSWERED = "The corpus does not answer this."
# A question about a named document as a whole; {} is the document's citation (`qa.types.citation`).
ABOUT_DOCUMENT = "Quotes cannot describe a whole document; please ask what you want to know from it. It is: {}"
LEAD_IN_WORDS = 80  # a second sentence of context joins only while the two stay this short


class Engine:
    """Holds one index and the model; `answer()` is safe to call many times (the model loads once)."""

    def __init__(
        self,
        stored: StoredIndex,
        settings: Settings,
        encoder: Encoder | OnnxEncoder | None = None,
        reranker: Reranker | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        self.settings = settings
        self.stored = stored
        self.encoder = encoder or Encoder(model=manifest_model(stored.manifest))
        self.reranker = reranker or Reranker(settings.models, threads=settings.threads)
        self.scorer = scorer or Scorer.load(settings.models / SCORER_FILE.name)
        self.build: str | None = None  # the build folder's name, when loaded from an index directory
        table = stored.documents
        self.documents = DocumentsById(table)  # doc_id -> Document, read when asked for
        self.sources = SourceNames([table[int(i)] for i in table.described], len(table))
        self.bm25 = BM25Retriever(stored.bm25, synonyms=stored.synonyms, synonym_weight=settings.synonym_weight)
        self.sentence_vectors = stored.sentence_vectors
        self.passage_vectors = stored.passage_vectors
        self.sentence_passage = stored.sentence_passage
        self.passage_documents = stored.passages.rows[:, 0]
        self.sentence_words = stored.sentence_words
        # Whether a sentence opens by pointing back (`index.lead_in`): it brings the sentence before it
        # along as context (`lead_in`).
        self.continues = stored.continues
        # A sentence's terms and numbering, read when it is a candidate (`_sentence_terms`).
        self.sentence_terms = lru_cache(maxsize=65536)(self._sentence_terms)
        # A passage's heading terms: its document's title and its heading path.
        self.heading_terms = lru_cache(maxsize=65536)(self._heading_terms)
        self.opening = lru_cache(maxsize=65536)(self._opening)
        self.dense = DenseRetriever(stored.passage_index, self.encode)
        self.dense_sentences = SentenceDenseRetriever(stored.sentence_index, self.sentence_passage, self.encode)
        self.encode_cached = lru_cache(maxsize=512)(self._encode)

    @classmethod
    def load(
        cls, settings: Settings, encoder: Encoder | OnnxEncoder | None = None, scorer: Scorer | None = None
    ) -> Engine:
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
        reranker = Reranker(settings.models, threads=settings.threads)
        engine = cls(stored, settings, encoder, reranker, scorer or Scorer.load(settings.models / SCORER_FILE.name))
        engine.build = folder.name
        return engine

    def _sentence_terms(self, i: int) -> tuple[frozenset[str], int, int]:
        """The sentence's BM25 terms, and its numbering (`qa.extract.numbering`)."""
        text = self.sentence_text(i)
        return (frozenset(tokenize(text)), *numbering(text))

    def _opening(self, passage: int) -> int:
        """The passage that opens the passage's document; for a record of a collection, the opening of
        the first record in the run of records under the same title (a Wikipedia article's lede)."""
        table, doc = self.stored.documents, int(self.passage_documents[passage])
        title = table[doc].title
        while title and doc > 0 and table[doc - 1].title == title:
            doc -= 1
        return int(np.searchsorted(self.passage_documents, doc))

    def _heading_terms(self, passage: int) -> frozenset[str]:
        doc = self.documents[self.stored.passages[passage].doc_id]
        return frozenset(tokenize(f"{doc.title or ''} {self.stored.contexts[passage]}"))

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

    def candidates(self, query: str, hits: list[Hit]) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Every candidate span (`qa.extract.windows`) of the best `settings.passages` passages and of the
        passages that open their documents (`opening`), as (first, last) sentence numbers, with its row
        of `qa.scorer.FEATURES` (the reader's logit left 0). An opening often answers a vague question
        ("who is genghis khan") without sharing its words; whether it does is the scorer's call."""
        top = hits[: self.settings.passages]
        if not top:
            return [], np.zeros((0, len(FEATURES)))
        fused = {h.index: h.score for h in hits}
        seen = {h.index for h in top}
        for opening in dict.fromkeys(self.opening(h.index) for h in hits[: self.settings.passages]):
            if opening not in seen:
                seen.add(opening)
                top.append(Hit(opening, fused.get(opening, 0.0)))
        q_vec = self.encode(query)
        terms, _ = self.question_terms(query)
        best_fused = max(h.score for h in top) or 1.0
        keywords = self.bm25.query_scores(query)
        best_keywords = max(float(keywords[h.index]) for h in top)
        groups = [np.arange(p.first_sentence, p.last_sentence) for p in (self.stored.passages[h.index] for h in top)]
        ids = np.concatenate(groups)
        # One product for the pieces of every candidate sentence, split back per passage.
        matched = piece_matrix(self.pieces(query), *self.stored.sentence_tokens.gather(ids))
        dense = np.asarray(self.sentence_vectors[ids]) @ q_vec
        words = np.asarray(self.sentence_words[ids])
        info = [self.sentence_terms(int(i)) for i in ids]
        spans, rows, at = [], [], 0
        for hit, group in zip(top, groups, strict=True):
            n = len(group)
            passage_cosine = float(self.passage_vectors[hit.index] @ q_vec)
            heading = lexical_overlap(terms, self.heading_terms(hit.index))
            keyword = float(keywords[hit.index]) / best_keywords if best_keywords > 0 else 0.0
            for lo, hi in windows(words[at : at + n]):
                a, b = at + lo, at + hi
                held = frozenset().union(*(t for t, _, _ in info[a:b]))
                numbered = sum(c for _, c, _ in info[a:b]) / max(1, sum(w for _, _, w in info[a:b]))
                spans.append((int(group[lo]), int(group[hi - 1]) + 1))
                rows.append(
                    (
                        0.0,
                        float(dense[a:b].max()),
                        passage_cosine,
                        float(matched[:, a:b].max(axis=1).mean()) if len(matched) else 0.0,
                        lexical_overlap(terms, held),
                        heading,
                        keyword,
                        hit.score / best_fused,
                        float(words[a:b].sum()) / 50.0,
                        numbered,
                        float(self.opening(hit.index) == hit.index),
                    )
                )
            at += n
        return spans, np.array(rows, dtype=np.float64)

    def score(self, query: str, hits: list[Hit], timings: dict[str, float] | None = None) -> list[Span]:
        """The spans the reranker reads, each with the scorer's probability that it answers the question.

        The scorer without the reader's term (`Scorer.shortlist`) picks the `settings.reread` best
        candidates; the reranker reads those with the question (`span_text`); the scorer turns all the
        features into a probability. `timings` gets the milliseconds of the candidates and of the rest."""
        t0 = time.perf_counter()
        spans, rows = self.candidates(query, hits)
        t1 = time.perf_counter()
        if timings is not None:
            timings["candidates"] = (t1 - t0) * 1000
            timings["rerank"] = 0.0
        if not spans:
            return []
        short = np.argsort(-self.scorer.shortlist.logit(rows), kind="stable")[: self.settings.reread]
        rows = rows[short]
        spans = [spans[i] for i in short]
        rows[:, FEATURES.index("reader")] = self.reranker.score(
            query, [self.span_text(first, last) for first, last in spans]
        )
        probability = self.scorer.answer.probability(rows)
        if timings is not None:
            timings["rerank"] = (time.perf_counter() - t1) * 1000
        dense = rows[:, FEATURES.index("dense")]
        return [
            Span(first, last, float(p), float(d)) for (first, last), p, d in zip(spans, probability, dense, strict=True)
        ]

    def span_text(self, first_sentence: int, last_sentence: int) -> str:
        """What the reranker reads for sentences first..last-1: where they stand (`candidate_text`), then
        their text."""
        first, last = self.stored.sentences[first_sentence], self.stored.sentences[last_sentence - 1]
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

        The question is read in its typed-alike form (`normal_form`: lower case, no trailing "?", "." or
        "!"), so the answer does not change with how it was typed. `threshold` overrides the scorer's
        (the evaluation runs with -inf to see every score)."""
        started = time.perf_counter()
        settings = self.settings
        question = clean_question(question, settings.max_question_chars)
        asked = normal_form(question)
        query = normal_form(clean_question(search, settings.max_question_chars)) if search else asked
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
        if named:  # "according to the thread": quote that document only
            hits = [h for h in hits if self.stored.passages[h.index].doc_id in named]
        timings["retrieve"] = (time.perf_counter() - t0) * 1000
        spans = self.score(looked_for, hits, timings)
        # One calibrated probability decides: the best span's, that it answers the question.
        confidence = max((s.score for s in spans), default=0.0)
        threshold = self.scorer.threshold if threshold is None else threshold
        chosen = []
        if spans and confidence >= threshold:
            chosen = pick_spans(spans, k or settings.quotes, threshold)
        related: list[Quote] = []
        if not chosen:
            related = [self.quote(s) for s in pick_spans(spans, k or settings.quotes, float("-inf"))]
        timings["total"] = (time.perf_counter() - started) * 1000
        return Answer(
            question=question,
            quotes=[self.quote(s) for s in chosen],
            abstained=not chosen,
            confidence=round(confidence, 4),
            related=related,
            notice=NOT_ANSWERED if not chosen else None,
            # What was searched, as typed: a resolved follow-up, or the question with its author named.
            searched=clean_question(search, settings.max_question_chars)
            if search
            else (query if query != asked else None),
            only_from=sorted(self.documents[d].title for d in named),
            timings_ms=timings,
        )
