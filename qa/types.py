"""What answering returns: hits from a retriever, quotes with their citations, the answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Hit:
    index: int  # passage number in the index
    score: float


@dataclass(frozen=True)
class Excerpt:
    """Verbatim text of a document at its offsets: `text == document.text[start:end]`."""

    start: int
    end: int
    text: str


def citation(title: str, author: str | None, publisher: str | None, locator: str | None, url: str | None) -> str:
    """Author and publisher, title, locator, link, as plain text; the parts not recorded are left out."""
    who = ", ".join(p for p in (author, publisher) if p)
    return " — ".join(p for p in (who, f"“{title}”", locator, url) if p)


@dataclass(frozen=True)
class Quote:
    """A verbatim span of a document: `text == document.text[start:end]`."""

    doc_id: str
    start: int
    end: int
    text: str
    locator: str
    score: float  # ranking score (mixed signals); higher is better
    relevance: float  # cosine of the question and the quote's best sentence (shown; the scorer decides)
    title: str
    author: str | None
    publisher: str | None
    url: str | None
    kind: str | None = None  # the document's kind ("analysis article …"), for attribution
    # The sentence (or two) just before the quote when the quote opens by pointing back to it ("She has
    # also stated …"), see `Engine.lead_in`; shown apart from the quote, never part of it.
    context: Excerpt | None = None
    # `url` with a text fragment that opens the page at the quote and highlights it (`qa.links`); None
    # for a document without a `url`.
    link: str | None = None

    def context_shown(self, above: Quote | None) -> Excerpt | None:
        """`context`, unless `above` (the quote shown just above this one) already holds it: two
        neighbouring sentences quoted one after the other need not show the first one twice."""
        c = self.context
        if c is None or (
            above is not None and above.doc_id == self.doc_id and above.start <= c.start < c.end <= above.end
        ):
            return None
        return c

    def citation(self) -> str:
        return citation(self.title, self.author, self.publisher, self.locator, self.url)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    question: str
    quotes: list[Quote]
    abstained: bool
    # the scorer's probability that the best span answers (`qa.scorer`); abstention compares it with its threshold
    confidence: float = 0.0
    related: list[Quote] = field(default_factory=list)  # closest passages when abstaining, never answers
    notice: str | None = None  # fixed interface text, e.g. why the system abstained
    searched: str | None = None  # the text actually searched, when it differs from the question
    only_from: list[str] = field(default_factory=list)  # titles of the documents the question named
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "abstained": self.abstained,
            "confidence": self.confidence,
            "notice": self.notice,
            "searched": self.searched,
            "only_from": self.only_from,
            "quotes": [q.to_json() for q in self.quotes],
            "related": [q.to_json() for q in self.related],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def contexts_shown(quotes: list[Quote]) -> list[Excerpt | None]:
    """Each quote's `Quote.context_shown`, for quotes shown one under the other in this order."""
    above = [None, *quotes][: len(quotes)]  # nothing above the first; an empty list stays empty
    return [quote.context_shown(before) for quote, before in zip(quotes, above, strict=True)]
