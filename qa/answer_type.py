"""What kind of answer a question asks for, and whether a sentence holds one: a small, rule-based cue.

"When …" wants a date, "How many …" a number, "How long …" a duration, "Who …" a name, "Where …" a
place. A sentence that holds the wanted kind gets a bonus in quote selection (weight `answer_type`).
"""

from __future__ import annotations

import re

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    "thousand|million|billion|dozen|several|half|twice|decade|decades"
)
PATTERNS = {
    "when": re.compile(
        rf"\b(?:{_MONTHS})\b|\b(?:1[5-9]|20)\d\d(?:s)?\b|\b(?:since|until|after|before|during) the\b|"
        r"\bcentury\b|\b(?:yesterday|today|ago)\b",
        re.IGNORECASE,
    ),
    "number": re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE),
    "duration": re.compile(
        r"\b\d+\s+(?:days?|weeks?|months?|years?|hours?|decades?)\b|\bsince\b|\bdecades?\b|\bdays?\b|\bweeks?\b|"
        r"\bmonths?\b|\byears?\b",
        re.IGNORECASE,
    ),
    "person": re.compile(r"(?<=\S\s)[A-Z][a-z]+(?:\s+[A-Z][a-z.]+)+|@\w+"),
    "place": re.compile(r"\b(?:in|near|at|from|to)\s+(?:the\s+)?[A-Z][a-z]+"),
}
_QUESTION_TYPES = [
    ("duration", re.compile(r"(?:how (?:long|quickly|soon|fast)|for how long)\b")),
    ("number", re.compile(r"(?:how (?:many|much|old|far|big|large|often)|what (?:number|percentage|share))\b")),
    ("when", re.compile(r"(?:when|what year|what date|since when|in what year|which year)\b")),
    ("person", re.compile(r"(?:who|whom|whose)\b")),
    ("place", re.compile(r"(?:where|in which (?:city|country|region|place)|which (?:city|country|region|place))\b")),
]


def answer_type(question: str) -> str | None:
    """The kind of answer the question's opening words ask for, or None."""
    opening = question.strip().lower()
    for kind, pattern in _QUESTION_TYPES:
        if pattern.match(opening):
            return kind
    return None


def holds(text: str, kind: str | None) -> bool:
    return kind is not None and bool(PATTERNS[kind].search(text))
