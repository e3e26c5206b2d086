"""The sentence a quote leans on: context shown with a quote that opens by pointing back.

A quote is the best span for the question, and a span can open on a sentence whose subject lives in
the one before it: "She has also stated that the Russian side is actively working …" (she is Maria
Zakharova, named in the sentence before), "They use and broadcast intimidation tactics …", "In that
case, the UN, EU and U.S. should consider sanctions …". Shown alone, such a quote leaves the reader
to guess who says or does what, which in a corpus where attribution matters is how words end up in
the wrong mouth. So the sentence before it is given with the quote, apart from it, as verbatim text
at its own offsets. It is not part of the quote: the quote stays the span that was scored.

A sentence points back when it opens with a personal or possessive pronoun, a demonstrative or
"such" (who or what it is about is in the sentence before), or with a connective whose sense hangs on
the sentence before: a consequence ("Therefore", "In that case") or a contrast ("However", "But").
A connective that only adds ("Moreover", "Meanwhile", "At the same time") does not count by itself,
but the word after it does: "Moreover, they started …" points back, "Meanwhile, Nagorno-Karabakh is
…" does not. "It" also opens sentences about nothing before them ("It is important to note that …",
"It is worth recalling that …"): an "It is <one or two words> to/that" opening does not count.
A thread's post number at the start ("7/ They …") is skipped. The rules are general English; nothing
here knows a particular document.
"""

from __future__ import annotations

import re

_ADDING = "moreover|furthermore|in addition|also|and|meanwhile|at the same time|again"
_HANGING = (
    "in that case|in this case|in this context|as a result|in turn|therefore|thus|hence|then|"
    "however|nevertheless|even so|instead|still|yet|but"
)
_REFERRING = "such|this|these|that|those|they|them|their|theirs|he|him|his|she|her|hers|it|its"
# How a sentence opens before the word that matters: a thread's post number ("7/ "), an opening quote
# mark or bracket, an adding connective ("Moreover, ").
_OPENING = rf"^(?:\d{{1,3}}/\s+)?[\"“‘(]?\s*(?:(?:{_ADDING})\b,?\s*)?"
_POINTS_BACK = re.compile(rf"{_OPENING}(?:{_HANGING}|{_REFERRING})\b", re.IGNORECASE)
_EMPTY_IT = re.compile(
    rf"{_OPENING}it (?:is|was|will be|would be|has been|had been|seems|remains) (?:not )?(?:[\w-]+ ){{1,2}}(?:to|that)\b",
    re.IGNORECASE,
)


def points_back(sentence: str) -> bool:
    """Whether the sentence opens by referring to what came before it (see the module's rules)."""
    text = sentence.lstrip()
    return bool(_POINTS_BACK.match(text)) and not _EMPTY_IT.match(text)
