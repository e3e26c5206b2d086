"""From documents to passages and sentences, with offsets into `Document.text`.

A passage is a run of consecutive sentences of one block (a paragraph, post or bullet item), at most
`max_sentences` sentences and about `max_words` words, so it never crosses a heading or a post.
"""

from __future__ import annotations

from dataclasses import dataclass

from index.sentences import split_sentences
from index.structure import find_blocks
from index.types import Document, Passage, Sentence, is_record

MAX_SENTENCES = 4
MAX_WORDS = 90


@dataclass(frozen=True)
class Segmented:
    passages: list[Passage]
    sentences: list[Sentence]
    contexts: list[str]  # per passage: the heading path (or record title) it is embedded with


def _group(spans: list[tuple[int, int]], text: str, max_sentences: int, max_words: int) -> list[list[int]]:
    groups: list[list[int]] = []
    words = 0
    for i, (start, end) in enumerate(spans):
        n = len(text[start:end].split())
        if groups and len(groups[-1]) < max_sentences and words + n <= max_words:
            groups[-1].append(i)
            words += n
        else:
            groups.append([i])
            words = n
    return groups


def segment(
    documents: list[Document],
    max_sentences: int = MAX_SENTENCES,
    max_words: int = MAX_WORDS,
) -> Segmented:
    passages: list[Passage] = []
    sentences: list[Sentence] = []
    contexts: list[str] = []
    for doc in documents:
        # Records of a collection have no headings of their own; their title is their context.
        root = doc.title if is_record(doc.doc_id) else ""
        for block in find_blocks(doc.doc_id, doc.text, root, doc.pages, doc.headings):
            spans = split_sentences(doc.text, block.start, block.end)
            for group in _group(spans, doc.text, max_sentences, max_words):
                first = len(sentences)
                for i in group:
                    sentences.append(Sentence(doc.doc_id, spans[i][0], spans[i][1], len(passages)))
                passages.append(
                    Passage(doc.doc_id, spans[group[0]][0], spans[group[-1]][1], block.locator, first, len(sentences))
                )
                contexts.append(block.section)
    return Segmented(passages, sentences, contexts)
