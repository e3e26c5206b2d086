"""Word vectors: converting the npm package's JSON, reading the result, and refusing damaged files."""

import json

import numpy as np
import pytest

from index.errors import QAError
from qa.word_vectors import WordVectors, convert, find_word_vectors, load_word_vectors


def package_json(path, vectors):
    """A file in the package's format: each vector is its values, then its norm and its index."""
    words = list(vectors)
    data = {
        "precision": 8,
        "l2NormIndex": 2,
        "wordIndex": 3,
        "size": len(words),
        "dimensions": 2,
        "words": words,
        "vectors": {w: [*v, float(np.linalg.norm(v)), i] for i, (w, v) in enumerate(vectors.items())},
        "unkVector": [0, 0, 0, 0],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_conversion_keeps_the_word_order_and_makes_unit_vectors(tmp_path):
    source = package_json(tmp_path / "p.json", {"kids": [3.0, 4.0], "children": [4.0, 3.0], "sky": [0.0, -2.0]})
    assert convert(source, tmp_path / "glove") == 3
    vectors = load_word_vectors(tmp_path / "glove")
    rows = vectors.rows(["sky", "unknown", "kids"])
    assert rows.tolist() == [2, 0]  # words without a vector are left out
    got = vectors.vectors(rows)
    assert got.dtype == np.float32 and got == pytest.approx(np.array([[0.0, -1.0], [0.6, 0.8]]), abs=1e-3)
    kids, children = vectors.vectors(vectors.rows(["kids", "children"]))
    assert float(kids @ children) == pytest.approx(0.96, abs=1e-3)


def test_missing_or_damaged_vectors_get_one_sentence(tmp_path):
    assert find_word_vectors(tmp_path) is None
    with pytest.raises(QAError, match="does not hold word vectors .* fetch them with: bash scripts/fetch_glove.sh"):
        load_word_vectors(tmp_path)
    convert(package_json(tmp_path / "p.json", {"a": [1.0, 0.0], "b": [0.0, 1.0]}), tmp_path / "glove")
    (tmp_path / "glove" / "words.txt").write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(QAError, match=r"are damaged \(3 words, 2 vectors\); fetch them again"):
        WordVectors(tmp_path / "glove")
    (tmp_path / "glove" / "vectors.npy").write_bytes(b"not numpy")
    with pytest.raises(QAError, match="cannot be read"):
        WordVectors(tmp_path / "glove")
