"""Checking a question before it is searched: one clear sentence for each kind of bad input."""

from __future__ import annotations

import re
import unicodedata

from index.errors import BadQuestion

EMPTY = "Please type a question."
NO_WORDS = "Please ask a question in words."
OTHER_SCRIPT = "The corpus is in English; please ask your question in English."
NOTHING_ASKED = "Please say what you want to know: that question has only words like “what” and “it”."


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


def normal_form(question: str) -> str:
    """The question as the engine reads it: lower case, runs of space folded, without surrounding spaces
    or trailing "?", "." and "!". People type "when did the blockade start" as often as "When did the
    blockade start?"; both must get the same answer."""
    return re.sub(r"\s+", " ", question).strip().rstrip("?.!¿¡ ").strip().lower()


def mostly_latin(text: str) -> bool:
    """True when at least half of the letters are Latin (the corpus and the model are English)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin >= len(letters) / 2
