"""The BM25 tokenizer, shared by the index build and the query side so both see the same terms.

Lower-cased words (letters and digits; "Nagorno-Karabakh" gives "nagorno" and "karabakh"), English
stop words removed, then Snowball-stemmed so "blocked" and "blocking" meet in "block" ("blockade" keeps
its own stem, "blockad": a stemmer cuts endings, it does not know derived nouns).
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMER = snowballstemmer.stemmer("english")

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves s t d ll m re ve""".split()
)


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def words(text: str) -> list[str]:
    """Lower-cased words with the stop words removed, not stemmed."""
    return [w for w in _WORD.findall(text.lower().replace("’", "'")) if w not in STOP_WORDS]


def tokenize(text: str) -> list[str]:
    return [_stem(w) for w in words(text)]
