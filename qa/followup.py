"""Resolving a short follow-up question ("And how many were children?") against the one before it.

A question is a follow-up when there was a previous question and it is short (at most 8 words) and
either opens like a continuation ("And …", "What about …"), or leans on something said before (a
pronoun such as "it", "they", "those", "there"), or is a fragment: very short, with no name and no verb
of its own ("On whose initiative?", "Since when?"). "Who are the protesters?" and "Why are schools
closed?" are as short, but whole questions: their auxiliary verb marks them, and they stand alone.
A follow-up is searched together with the previous question's searched text.
"""

from __future__ import annotations

import re

OPENERS = ("and ", "but ", "what about ", "how about ", "also ", "then ")
REFERRING = frozenset("it its they them their theirs those these that there he him his she her this".split())
MAX_WORDS = 8
# Finite auxiliaries and copulas: a short question with one of these is a whole question, not a fragment.
AUXILIARIES = frozenset(
    "is are was were am be been do does did has have had can could will would shall should may might must "
    "isn't aren't wasn't weren't don't doesn't didn't hasn't haven't hadn't can't couldn't won't wouldn't "
    "shouldn't".split()
)


def is_follow_up(question: str) -> bool:
    words = re.findall(r"[A-Za-z0-9’'-]+", question)
    if not words or len(words) > MAX_WORDS:
        return False
    lowered = question.strip().lower()
    if lowered.startswith(OPENERS):
        return True
    if any(w.lower() in REFERRING for w in words):
        return True
    has_name = any(w[0].isupper() or w[0].isdigit() for w in words[1:])
    # "Who did?" ends on its verb: elliptical, so still a fragment.
    has_verb = any(w.lower().replace("’", "'") in AUXILIARIES for w in words[:-1])
    return len(words) <= 4 and not has_name and not has_verb


def resolve(question: str, previous: str | None, max_chars: int = 1000) -> str | None:
    """The text to search for a follow-up (previous + question), or None when it stands alone.

    A chain of follow-ups keeps its questions, the earliest dropped first when the whole would pass
    `max_chars` (the longest question the engine takes): a short follow-up is never refused as too long.
    """
    if not previous or not is_follow_up(question):
        return None
    question, previous = question.strip(), previous.strip()
    room = max_chars - len(question) - 1
    while len(previous) > room:
        cut = re.search(r"[?.!]\s+", previous)  # drop the earliest question of the chain
        if cut is None:
            return None
        previous = previous[cut.end() :]
    return f"{previous} {question}"
