"""Embedding as a Ray Data job gives the index the plain build gives."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from index.build import RayJob, build
from index.store import read_index
from tests.conftest import ROOT


def test_a_build_on_local_ray_equals_the_plain_build(seed_corpus, seed_index, encoder, tmp_path):
    out = tmp_path / "ray"
    summary = build(seed_corpus, out, encoder, ray=RayJob(None, workers=2))
    assert summary.embedded == 274
    on_ray, plain = read_index(out), read_index(seed_index)
    assert list(on_ray.sentence_keys) == list(plain.sentence_keys)
    assert list(on_ray.passage_keys) == list(plain.passage_keys)
    assert np.abs(on_ray.passage_vectors - plain.passage_vectors).max() < 1e-6
    assert np.abs(on_ray.sentence_vectors - plain.sentence_vectors).max() < 1e-6
    a, b = on_ray.sentence_tokens, plain.sentence_tokens
    assert np.array_equal(a.offsets, b.offsets)
    assert np.abs(np.asarray(a.codes, dtype=int) - np.asarray(b.codes, dtype=int)).max() <= 1  # int8 rounding


def test_the_command_line_builds_on_ray(seed_corpus, tmp_path):
    out = tmp_path / "cli"
    done = subprocess.run(
        [sys.executable, "-m", "index", "build", "--corpus", str(seed_corpus), "--out", str(out), "--ray", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "274 texts embedded" in done.stdout
