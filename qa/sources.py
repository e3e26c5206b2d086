"""Questions that name a source: "according to the thread", "what does EVN Report say", "Rebecca Vincent".

Attribution matters in this corpus, so a question that names one of the documents is answered from
that document only. A document is named by the noun of its `kind` ("social media thread, 14 numbered
posts" gives "thread"), the words of its publisher and the words of its author (name and handle), as
`sources.json` records them; "author" and "writer" name the documents whose author is recorded (here
the thread: the article's author is not known, so "the article's author" names both and restricts
nothing). Titles do not name a document: their words are what questions are about.
A question whose words name every document, or none, is not restricted.
"""

from __future__ import annotations

import re

from index.tokenize import words
from index.types import Document


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


class SourceNames:
    def __init__(self, documents: list[Document]) -> None:
        self.total = len(documents)
        self.names = {d.doc_id: n for d in documents if (n := naming_words(d))}

    def named(self, question: str) -> frozenset[str]:
        """The ids of the documents the question names; empty when it names none or all of them."""
        if not self.names:
            return frozenset()
        asked = set(words(question))  # words, not stems: "reported" must not name "EVN Report"
        named = frozenset(doc_id for doc_id, n in self.names.items() if n & asked)
        return named if len(named) < self.total else frozenset()
