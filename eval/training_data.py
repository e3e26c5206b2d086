"""Training items shaped like visitors' questions, made from public data by readable rules.

Every generator is seeded and pure (text in, text out), so a test can run it on a tiny slice:
- `visitor_form`: a SQuAD question as people type it: lower case without "?", keywords only, "what
  about <topic>", "who is <name>", "<topic>?" (`FORMS`);
- `no_answer_items`: an on-topic question whose answer's sentence is taken out of its candidates, so
  that the rest of its paragraph is there and the target is "no answer";
- `title_items`: an article's title or a section's heading asked as a question, answered by the first
  sentence under it;
- `navigation_fragment`: a table-of-contents or menu line ("5.5. Dictionaries 5.6. Looping …"), a
  candidate that answers nothing, mixed into candidate lists.
Never a reported set, never the Python documentation corpus.
"""

from __future__ import annotations

import random
import re

from index.tokenize import STOP_WORDS

FORMS = ("original", "lower", "keywords", "what_about", "who_is", "topic")
ASKING = frozenset("what which who whom whose when where why how many much did does do is are was were".split())
KEPT_ASKING = frozenset("who when where why how".split())
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
_WHO_IS = re.compile(r"^who (?:is|was|were|are) (.+)$")
_WHAT_IS = re.compile(r"^what (?:is|was|are|were) (?:a |an |the )?(.+)$")


def plain(question: str) -> str:
    """Lower case, no trailing "?", ".", "!" and no surrounding spaces: how most people type."""
    return question.strip().rstrip("?.! ").strip().lower()


def keywords(question: str) -> str:
    """The question's content words only, in order, lower case, after its asking word when it opens with
    one that says what kind of answer it wants ("when blockade start", "super bowl 50 afc team")."""
    found = _WORD.findall(question.lower())
    lead = found[:1] if found[:1] and found[0] in KEPT_ASKING else []
    return " ".join(lead + [w for w in found if w not in STOP_WORDS and w not in ASKING])


def visitor_form(question: str, form: str) -> str | None:
    """`question` rewritten in `form` (one of `FORMS`), or None when the rule does not fit it.

    "what about <topic>" and "<topic>?" fit only a short "What is <topic>?" question, and "who is <name>"
    only a "Who is/was <name>?" one, so that the rewrite still asks the same thing."""
    low = plain(question)
    if form == "original":
        return question
    if form == "lower":
        return low
    if form == "keywords":
        found = keywords(question)
        return found if len(found.split()) >= 2 else None
    if form == "who_is":
        match = _WHO_IS.match(low)
        return f"who is {match.group(1)}" if match and len(match.group(1).split()) <= 5 else None
    match = _WHAT_IS.match(low)
    if not match or len(match.group(1).split()) > 4:
        return None
    topic = match.group(1)
    return f"what about {topic}" if form == "what_about" else f"{topic}?"


def visitor_question(question: str, rng: random.Random, keep_original: float = 0.3) -> str:
    """One visitor form of `question`, drawn at random among those that fit (the original with
    probability `keep_original`, else a rewrite; "lower" always fits)."""
    if rng.random() < keep_original:
        return question
    fitting = [f for f in FORMS[1:] if visitor_form(question, f) is not None]
    # the specific forms are rarer in SQuAD; when one fits it is taken half the time
    special = [f for f in fitting if f in ("what_about", "who_is", "topic")]
    form = rng.choice(special) if special and rng.random() < 0.5 else rng.choice(fitting)
    return visitor_form(question, form)


def navigation_fragment(names: list[str], rng: random.Random) -> str:
    """A line of a table of contents or a menu made of `names` (headings, titles): what a page's
    navigation leaves in its text and what must never be shown as an answer."""
    picked = rng.sample(names, min(len(names), rng.randint(3, 6)))
    style = rng.randrange(3)
    if style == 0:
        chapter = rng.randint(1, 12)
        first = rng.randint(1, 5)
        parts = [f"{chapter}.{first + i}. {name}" for i, name in enumerate(picked)]
        return " ".join(parts) + f" {chapter}.{first + len(picked)}."
    if style == 1:
        return " · ".join(picked)
    return "Table of Contents " + " ".join(f"{i + 1}. {name}" for i, name in enumerate(picked)) + " Next topic"


def title_question(title: str, rng: random.Random) -> str:
    """A title or heading asked the way a visitor asks about a topic."""
    low = plain(title)
    return rng.choice([low, f"what is {low}", f"{low}?", f"tell me about {low}", f"what about {low}"])
