"""Questions that name a source: "according to the thread", "what does EVN Report say", "Rebecca Vincent".

Attribution matters in this corpus, so a question that names one of the documents is answered from
that document only. A document is named by the noun of its `kind` ("social media thread, 14 numbered
posts" gives "thread"), the words of its publisher and the words of its author (name and handle), as
`sources.json` records them; "author" and "writer" name the documents whose author is recorded (here
the thread: the article's author is not known, so "the article's author" names both and restricts
nothing). Titles do not name a document: their words are what questions are about.
A question whose words name every document, or none, is not restricted.

The phrase that names the source ("according to the article") says where to look, not what to find:
the documents do not call themselves so. It is left out of the text that is searched and scored
(`unnamed`), so it does not pull the question's vector and word pieces toward sentences about other
articles or reports (own set: "What is Nakhichevan according to the article?" now quotes "Nakhichevan
is not an enclave but an exclave …", Hit@1 +1; holdout unchanged; a corpus without source metadata,
like SQuAD's, has no such phrases).
"""

from __future__ import annotations

import re

from index.tokenize import words
from index.types import Document

# "according to" and up to four words up to a punctuation mark or the end, with the commas around it:
# "…, according to the article?", "According to EVN Report, …", "Who, according to the thread, …".
_ACCORDING = re.compile(
    r"(,\s*)?\baccording to\s+((?:[^\s,;:?!.]+\s+){0,3}[^\s,;:?!.]+)\s*(?=[,;:?!.]|$)(,\s*)?", re.IGNORECASE
)


# Words a question uses to ask about a document as a whole rather than about what it says ("What does
# the EVN Report say?", "Who wrote the article?", "What is the thread about?"). Verbs of a stance
# ("What does the author believe?") are left out: the corpus may state it ("I deeply believe …").
DOCUMENT_TALK = frozenset(
    """say says said tell tells told write writes wrote written mention mentions mentioned discuss discusses
    cover covers topic topics main point points gist summary summarise summarize sum publish published
    publisher author writer document documents text source sources piece post posts tweet tweets thread
    threads article articles report reports essay""".split()
)


def author_words(doc: Document) -> frozenset[str]:
    """The words of the document's author's name and handle."""
    return frozenset(words(doc.author or ""))


def naming_words(doc: Document) -> frozenset[str]:
    """The words that, in a question, point at this document."""
    found: set[str] = set()
    if doc.kind:
        head = words(re.split(r",|\bwith\b|\(", doc.kind, maxsplit=1)[0])
        found.update(head[-1:])  # the noun closing "social media thread", "analysis article"
    found.update(words(doc.publisher or ""))
    if doc.author:  # "the author" or "the writer" points at the documents whose author is known
        found.update(words(doc.author) + ["author", "writer"])
    return frozenset(found)


# Questions asking why, when, where or how something was written ask what the text says, not about it.
_REASON = re.compile(r"\s*(why|when|where|how)\b", re.IGNORECASE)

# A third-person pronoun that, in a question asked first, can only mean a person the corpus knows of.
_PERSON = re.compile(r"\b(she|he|her|him|his|hers)\b", re.IGNORECASE)


class SourceNames:
    def __init__(self, documents: list[Document], total: int | None = None) -> None:
        """`documents`: those with an author, publisher or kind (the others name nothing), of `total`
        documents in all (default: as many as given)."""
        self.total = len(documents) if total is None else total
        authors = {d.author for d in documents if d.author}
        # The one author of the corpus, by name without the handle ("Rebecca Vincent (@rebecca_vincent)").
        self.sole_author = re.sub(r"\s*\(.*?\)", "", authors.pop()).strip() if len(authors) == 1 else None
        self.names = {d.doc_id: n for d in documents if (n := naming_words(d))}
        self.people = {d.doc_id: author_words(d) for d in documents}
        self.any_name = frozenset().union(*self.names.values())

    def named(self, question: str) -> frozenset[str]:
        """The ids of the documents the question names; empty when it names none or all of them."""
        if not self.names:
            return frozenset()
        asked = set(words(question))  # words, not stems: "reported" must not name "EVN Report"
        named = frozenset(doc_id for doc_id, n in self.names.items() if n & asked)
        return named if len(named) < self.total else frozenset()

    def resolve_author(self, question: str) -> str:
        """ "What does she do?" asked with nothing before it, on a corpus with one author, asks about her: the
        pronoun becomes the author's name ("What does Rebecca Vincent do?"). Unchanged otherwise."""
        if not self.sole_author:
            return question
        name = self.sole_author

        def swap(match: re.Match[str]) -> str:
            word = match.group(1).lower()
            return f"{name}'s" if word in ("his", "hers") else name

        return _PERSON.sub(swap, question)

    def about_itself(self, question: str, named: frozenset[str]) -> bool:
        """The question names documents and asks nothing but about them as a whole ("Who wrote the
        thread?", "What is the article about?"): no quote can answer that, the citation can. A question
        that names a document by its author alone ("Who is Rebecca Vincent?") asks about the person,
        which her own words answer ("someone who spent a decade working mostly on human rights …")."""
        if _REASON.match(question):  # "Why did she write the thread?" asks what the thread says of it
            return False
        asked = set(words(question))
        left = asked - DOCUMENT_TALK
        if not named or left - frozenset().union(*(self.names[d] for d in named)):
            return False
        by_author_only = all(not (asked & (self.names[d] - self.people[d])) for d in named)
        return not by_author_only

    def unnamed(self, question: str) -> str:
        """The question without an "according to …" phrase whose words all name documents (see the module
        docstring); unchanged when it has none, or when nothing would be left."""

        def drop(match: re.Match[str]) -> str:
            said = words(match.group(2).replace("'s", "").replace("’s", ""))
            return " " if said and all(w in self.any_name for w in said) else match.group(0)

        left = _ACCORDING.sub(drop, question)
        if left == question:
            return question
        left = re.sub(r"\s+([,;:?!.])", r"\1", re.sub(r"\s{2,}", " ", left)).strip()
        return left[:1].upper() + left[1:] if any(c.isalnum() for c in left) else question
