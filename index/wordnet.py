"""Synonyms from WordNet 3.0, for question words the corpus never uses.

A paraphrased question often asks with a word the documents do not hold: "What punishment ought
Western powers weigh …?" against "… should consider sanctions …". BM25 cannot see "weigh" at all.
WordNet lists "weigh" and "consider" in one synset (a set of words for one sense), so the index keeps,
for each such word, the corpus terms that share one of its synsets; the query side then counts a
corpus term for the word it stands for, at a lower weight (`qa.settings.Settings.synonym_weight`).

Only a word's `senses` most frequent senses per part of speech count (WordNet's index files list a
lemma's synsets most frequent first): the rare senses are where the noise is ("fixed" as "doctored",
"firm" as "house"). Words and their synonyms go through the BM25 tokenizer, so the table maps stems
to stems; a lemma that is not one plain word ("hem in", "make-up") is left out.

The database files come from Debian's `wordnet-base` package (`scripts/fetch_wordnet.sh` puts them
in `var/wordnet`); WordNet 3.0 is © Princeton University, under the WordNet licence (see
`var/wordnet/copyright`). This module reads the files' documented format; it runs at index build.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from index.ingest import remembered_file_hash
from index.tokenize import tokenize

PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")
DEFAULT_SENSES = 2
SEARCHED = (Path("var/wordnet"), Path("/usr/share/wordnet"))


def find_wordnet(folder: Path | None = None) -> Path | None:
    """The WordNet database folder: `folder` when given, else the first of `SEARCHED` that holds one."""
    for candidate in [folder] if folder is not None else SEARCHED:
        if all(
            (candidate / f"index.{pos}").is_file() and (candidate / f"data.{pos}").is_file() for pos in PARTS_OF_SPEECH
        ):
            return candidate
    return None


def _lines(path: Path):
    """The lines of a WordNet database file, without its licence header (lines opening with spaces)."""
    with path.open(encoding="latin-1") as handle:
        for line in handle:
            if not line.startswith(" "):
                yield line


def synsets_by_lemma(folder: Path, pos: str, senses: int) -> dict[str, list[str]]:
    """index.<pos>: each lemma's first `senses` synset offsets, most frequent sense first.

    A line is: lemma, pos, synset count, pointer count, that many pointer symbols, sense count, tagged
    sense count, then the synset offsets."""
    out = {}
    for line in _lines(folder / f"index.{pos}"):
        fields = line.split()
        synset_count, pointer_count = int(fields[2]), int(fields[3])
        offsets = fields[6 + pointer_count :][:synset_count]
        out[fields[0]] = offsets[:senses]
    return out


def lemmas_by_synset(folder: Path, pos: str) -> dict[str, list[str]]:
    """data.<pos>: each synset's lemmas. A line is: offset, lexicographer file, type, word count in
    hexadecimal, then word and lexical id pairs (an adjective may carry a marker such as "(a)")."""
    out = {}
    for line in _lines(folder / f"data.{pos}"):
        count = int(line.split(maxsplit=4)[3], 16)
        fields = line.split(maxsplit=4 + 2 * count)  # the pointers and the gloss stay in one last field
        out[fields[0]] = [fields[4 + 2 * i].split("(")[0].lower() for i in range(count)]
    return out


@lru_cache(maxsize=300_000)
def _single_term(lemma: str) -> str | None:
    """The BM25 term of a one-word lemma; None for "hem_in", "make-up", "a-one" and stop words."""
    terms = tokenize(lemma) if lemma.isalpha() else []
    return terms[0] if len(terms) == 1 else None


def synonym_table(folder: Path, vocabulary: set[str], senses: int = DEFAULT_SENSES) -> dict[str, list[str]]:
    """For each term the corpus lacks (not in `vocabulary`), the corpus terms that share one of its
    first `senses` synsets per part of speech, sorted. Terms without such a synonym are left out."""
    table = {}
    for term, synonyms in _all_synonyms(str(folder), senses).items():
        if term not in vocabulary:
            found = [s for s in synonyms if s in vocabulary]
            if found:
                table[term] = found
    return table


@lru_cache(maxsize=2)
def _all_synonyms(folder: str, senses: int) -> dict[str, list[str]]:
    """Every one-word term of WordNet with the other one-word terms of its first `senses` synsets per
    part of speech (read once per process: the tests build many small indexes)."""
    if senses < 1:
        raise ValueError("senses must be at least 1")
    table: dict[str, set[str]] = {}
    for pos in PARTS_OF_SPEECH:
        synsets = lemmas_by_synset(Path(folder), pos)
        for lemma, offsets in synsets_by_lemma(Path(folder), pos, senses).items():
            term = _single_term(lemma)
            if term is None:
                continue
            for offset in offsets:
                for other in synsets.get(offset, []):
                    synonym = _single_term(other)
                    if synonym is not None and synonym != term:
                        table.setdefault(term, set()).add(synonym)
    return {term: sorted(found) for term, found in sorted(table.items())}


def wordnet_digest(folder: Path) -> str:
    """sha256 over the sha256 of each index and data file, so a manifest says which WordNet its synonyms
    came from."""
    files = [folder / f"{kind}.{pos}" for pos in PARTS_OF_SPEECH for kind in ("index", "data")]
    return hashlib.sha256(" ".join(remembered_file_hash(f) for f in files).encode()).hexdigest()
