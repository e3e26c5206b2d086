"""Resolving a short follow-up question ("And how many were children?") against the one before it.

A question is a follow-up when there was a previous question and it is short (at most 8 words) and
either opens like a continuation ("And …", "What about …"), or leans on something said before (a
pronoun such as "it", "they", "those", "there"), or is very short with no name of its own ("On whose
initiative?"). A follow-up is searched together with the previous question's searched text.
"""

from __future__ import annotations

import re

OPENERS = ("and ", "but ", "what about ", "how about ", "also ", "then ")
REFERRING = frozenset("it its they them their theirs those these that there he him his she her this".split())
MAX_WORDS = 8


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
    return len(words) <= 4 and not has_name


def resolve(question: str, previous: str | None) -> str | None:
    """The text to search for a follow-up (previous + question), or None when it stands alone."""
    if not previous or not is_follow_up(question):
        return None
    return f"{previous.strip()} {question.strip()}"
