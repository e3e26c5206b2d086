"""The records that flow from the corpus to an answer: one frozen dataclass per concept.

Offsets (`start`, `end`) always index into `Document.text`, the stored cleaned text, so any span
can be checked with `document.text[start:end]`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


def is_record(doc_id: str) -> bool:
    """Whether a document is a record of a .jsonl collection (`file#id`): about its title, with no
    headings of its own."""
    return "#" in doc_id


@dataclass(frozen=True)
class Document:
    doc_id: str  # the file name (or `file#id` for a record of a .jsonl collection)
    title: str
    author: str | None
    publisher: str | None
    url: str | None
    kind: str | None
    text: str  # the cleaned text every offset points into
    # A PDF's or Word file's layout, found when it was read (`index.pdf`, `index.word`): where each page
    # starts (PDF) and where each heading line starts, with its level (1 or 2). None for text files,
    # whose headings are found in the text (`index.structure`).
    pages: list[int] | None = None
    headings: list[list[int]] | None = None

    def page(self, offset: int) -> int | None:
        """The page (from 1) that holds `offset`, or None for a document without pages."""
        if not self.pages:
            return None
        return bisect_right(self.pages, offset) or 1

    def page_span(self, page: int) -> tuple[int, int]:
        """Offsets of page `page`'s text (from 1)."""
        start = self.pages[page - 1]
        end = self.pages[page] - 2 if page < len(self.pages) else len(self.text)
        return start, max(start, end)


@dataclass(frozen=True)
class Block:
    """A structural unit of a document: a paragraph, a numbered post or a bullet item."""

    doc_id: str
    start: int
    end: int
    locator: str  # e.g. "post 7/14" or "Mid-term Objectives › Humanitarian Airlift, paragraph 2"
    section: str  # the heading path, "" when the block sits under no heading


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    start: int
    end: int
    passage: int  # index of the passage this sentence belongs to


@dataclass(frozen=True)
class Passage:
    doc_id: str
    start: int
    end: int
    locator: str
    first_sentence: int  # sentences[first_sentence:last_sentence] belong to this passage
    last_sentence: int
