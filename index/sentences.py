"""A rule-based English sentence splitter that returns offsets, never copies.

It splits after `.`, `!`, `?` or `…` (with any closing quotes, brackets and `[n]` citation marks
that follow) when whitespace and a likely sentence start come next. It does not split after
titles ("Dr."), initialisms ("U.S.", "U.N.") or other abbreviations unless a common sentence-opening
word follows them, nor inside numbers ("1,100", "2003-2008", "3.5"), nor at dashes.
"""

from __future__ import annotations

import re

# Abbreviations that never end a sentence in practice: a name or a number follows them.
TITLES = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "jr",
    "sr",
    "gen",
    "col",
    "lt",
    "sgt",
    "capt",
    "rev",
    "gov",
    "sen",
    "rep",
    "pres",
    "hon",
    "mt",
    "ft",
    "vs",
    "v",
    "cf",
    "e.g",
    "i.e",
    "al",
    "approx",
    "ca",
    "op",
}
# Abbreviations that come before a number ("No. 5", "Art. 2"); otherwise they are plain words.
NUMBERED = {"no", "nos", "vol", "pp", "fig", "figs", "art", "sec", "ch"}
# Abbreviations that may end a sentence: split only when a common opener follows.
MAYBE_END = {
    "etc",
    "inc",
    "ltd",
    "co",
    "corp",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "est",
    "dept",
    "univ",
}
OPENERS = {
    "the",
    "a",
    "an",
    "it",
    "its",
    "in",
    "on",
    "at",
    "this",
    "that",
    "these",
    "those",
    "he",
    "she",
    "they",
    "we",
    "i",
    "you",
    "but",
    "however",
    "and",
    "or",
    "so",
    "yet",
    "there",
    "his",
    "her",
    "their",
    "our",
    "my",
    "if",
    "when",
    "while",
    "as",
    "after",
    "before",
    "since",
    "although",
    "meanwhile",
    "moreover",
    "also",
    "even",
    "for",
    "to",
    "what",
    "why",
    "how",
    "who",
}

_END = re.compile(r"[.!?…]+[\"”’')\]]*(?:\[\d+\])*")
_INITIALISM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]|[A-Z]")
_START = re.compile(r"[\"“‘'(\[]?[A-Z0-9•]")


def _word_before(text: str, dot: int) -> str:
    """The token ending just before position `dot` (the final punctuation mark)."""
    begin = dot
    while begin > 0 and not text[begin - 1].isspace() and text[begin - 1] not in '(“"‘':
        begin -= 1
    return text[begin:dot]


def _next_word(text: str, pos: int) -> str:
    match = re.match(r"[\"“‘'(\[]?([A-Za-z]+)", text[pos : pos + 40])
    return match.group(1).lower() if match else ""


def _is_boundary(text: str, mark: int, mark_end: int, next_start: int) -> bool:
    if not _START.match(text, next_start):
        return False
    if text[mark] != ".":
        return True
    if mark_end - mark > 1 and text[mark + 1] == ".":  # an ellipsis "..." before a capital
        return True
    if text[mark_end - 1] in "\"”’')]":  # closing quote or bracket: the sentence ended inside it
        return True
    word = _word_before(text, mark)
    bare = word.lower()
    if bare in NUMBERED:
        return not text[next_start].isdigit()
    if bare in TITLES:
        return False
    if bare in MAYBE_END or _INITIALISM.fullmatch(word):
        return _next_word(text, next_start) in OPENERS
    return True


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans `(start, end)` inside `text[start:end]`, trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    begin = start
    for match in _END.finditer(text, start, end):
        after = match.end()
        gap = after
        while gap < end and text[gap].isspace():
            gap += 1
        if gap == after or gap >= end:
            continue  # no whitespace after it (3.5, U.S.-led) or the block ends here anyway
        if _is_boundary(text, match.start(), match.end(), gap):
            spans.append((begin, after))
            begin = gap
    spans.append((begin, end))
    return [trim_span(text, s, e) for s, e in spans if text[s:e].strip()]


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span narrowed so it neither starts nor ends with white space."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
