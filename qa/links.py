"""Links that open a source at its quote: the document's URL with a text fragment (WICG Text Fragments).

`#:~:text=[prefix-,]start[,end]` makes a browser scroll to the first place on the page where `start`
(through `end`) stands and highlight it. A quote of up to `WHOLE_WORDS` words is given whole; a longer
one as its first and last `EDGE_WORDS` words, which the browser reads as a range. When the first words
also stand earlier in the document, the browser would stop there, so the words just before the quote
are added as a prefix, as few as make it the first match. The document's stored text stands in for the
page: matching is by whole words, case aside, whitespace runs alike, as browsers match.
"""

from __future__ import annotations

import re
from urllib.parse import quote

WHOLE_WORDS = 8
EDGE_WORDS = 4
PREFIX_WORDS = 6


def _encode(term: str) -> str:
    """Percent-encoded, with the three characters the directive's syntax uses (`-`, `,`, `&`) too."""
    return quote(term, safe="").replace("-", "%2D")


def _first_at(words: list[str], text: str, start: int, prefix: list[str] = ()) -> bool:
    """Whether, in the first whole-word match of `prefix` then `words` in `text`, `words` begin at `start`."""
    joined = r"\s+".join(map(re.escape, words))
    lead = r"\s+".join(map(re.escape, prefix)) + r"\s+" if prefix else ""
    found = re.search(rf"(?<!\w){lead}(?P<quote>{joined})(?!\w)", text, re.IGNORECASE)
    return found is not None and found.start("quote") == start


def text_fragment(url: str | None, text: str, start: int, end: int) -> str | None:
    """`url` with a text fragment for `text[start:end]`; None without a `url`."""
    if not url:
        return None
    words = text[start:end].split()
    if not words:
        return url
    first = words if len(words) <= WHOLE_WORDS else words[:EDGE_WORDS]
    terms = [" ".join(first)]
    if len(words) > WHOLE_WORDS:
        terms.append(" ".join(words[-EDGE_WORDS:]))
    directive = ",".join(map(_encode, terms))
    if not _first_at(first, text, start):
        before = text[max(0, start - 400) : start].split()
        for n in range(1, min(PREFIX_WORDS, len(before)) + 1):
            prefix = before[-n:]
            if _first_at(first, text, start, prefix):
                directive = f"{_encode(' '.join(prefix))}-,{directive}"
                break
    base, _, fragment = url.partition("#")
    return f"{base}#{fragment}:~:text={directive}" if fragment else f"{url}#:~:text={directive}"
