"""Checking a question before it is searched: one clear sentence for each kind of bad input."""

from __future__ import annotations

import re
import unicodedata

from index.errors import BadQuestion
from index.tokenize import STOP_WORDS, tokenize

EMPTY = "Please type a question."
NO_WORDS = "Please ask a question in words."
OTHER_SCRIPT = "The corpus is in English; please ask your question in English."
NOTHING_ASKED = "Please say what you want to know: that question has only words like “what” and “it”."

_TOKEN = re.compile(r"[^\W\d_][\w’'-]*")
# Lower-case words that belong inside a name ("Tom de Waal", "Ahmad bin Ali").
_PARTICLES = frozenset("de da del der den du van von la le al bin ibn".split())


def clean_question(text: str, max_chars: int) -> str:
    """The question with control characters turned to spaces and runs of space folded, or BadQuestion.

    Lone surrogates count as control characters: they are what Python makes of bytes that are not UTF-8
    on standard input or in arguments ("caf\\xe9" in Latin-1), and the tokenizer refuses them."""
    if not isinstance(text, str):
        raise BadQuestion(EMPTY)
    if len(text) > max_chars:
        raise BadQuestion(
            f"That question is {len(text):,} characters long; please keep it under {max_chars:,} characters."
        )
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in text)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise BadQuestion(EMPTY)
    if not re.search(r"[^\W_]", text):
        raise BadQuestion(NO_WORDS)
    return text


def mostly_latin(text: str) -> bool:
    """True when at least half of the letters are Latin (the corpus and the model are English)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin >= len(letters) / 2


def names(question: str) -> list[str]:
    """Names the question asks about: runs of capitalised words that are not stop words ("Maria
    Zakharova", "Tom de Waal", "UN Security Council", "Baku"; never "Who", "Is" or "I"). The question's
    first word, capitalised anyway, starts a name only with a capitalised word after it. A question in
    capitals or in Title Case ("Why Are Kids Not In School?") says nothing by its capitals: none."""
    tokens = [m.group() for m in _TOKEN.finditer(question)]
    if not any(c.islower() for c in question) or any(
        w[0].isupper() and w.lower() in STOP_WORDS and w != "I" for w in tokens[1:]
    ):
        return []
    runs, run = [], []  # (index of the run's first word, its words)
    for i, word in enumerate(tokens):
        lowered = word.lower().replace("’", "'")
        if word[0].isupper() and lowered.split("'")[0] not in STOP_WORDS:
            run = run or [i]
            run.append(word)
        elif run and lowered in _PARTICLES:
            run.append(word)
        else:
            runs.append(run)
            run = []
    runs.append(run)
    found = []
    for first, *words in filter(None, runs):
        while words[-1][0].islower():
            words.pop()
        if first > 0 or len(words) > 1:
            found.append(re.sub(r"['’]s?$", "", " ".join(words)))  # "Rebecca Vincent's" names Rebecca Vincent
    return found


def unknown_names(question: str, *vocabularies) -> list[str]:
    """The question's names (`names`) none of whose words any of `vocabularies` holds (BM25's stemmed
    vocabulary, the synonym table). Asked about someone the corpus never mentions, any quote would be
    about someone else, and attribution is the one thing an answer must get right."""
    return [
        name
        for name in names(question)
        if not any(
            term in vocabulary
            for word in name.split()
            if word[0].isupper()
            for term in tokenize(word)
            for vocabulary in vocabularies
        )
    ]
