"""A build killed halfway: the previous index stays in use, and the next build embeds only the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from index.build import build
from index.store import live_folder, read_index
from tests.conftest import ROOT, write_corpus

WORDS = "river mountain harvest winter market bridge school doctor letter garden".split()


def long_corpus(folder, documents: int = 40):
    files = {}
    for d in range(documents):
        sentences = [
            f"Report {d} line {n}: the {WORDS[(d + n) % 10]} near the {WORDS[(d * 3 + n) % 10]} was seen on day {n}."
            for n in range(30)
        ]
        files[f"report{d:02}.txt"] = "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, 30, 3))
    return write_corpus(folder, files)


def test_a_killed_build_leaves_the_old_index_and_resumes_where_it_stopped(tmp_path, encoder):
    corpus = write_corpus(tmp_path / "corpus", {"first.txt": "The first report says the river froze in January."})
    out = tmp_path / "index"
    build(corpus, out, encoder)
    before = live_folder(out).name
    long_corpus(corpus)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "index", "build", "--corpus", str(corpus), "--out", str(out), "--quiet"]
    running = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = out / ".embedding"
    deadline = time.time() + 300
    while not any(p.name.startswith("sentences-") for p in shards.glob("*.npz")) and time.time() < deadline:
        assert running.poll() is None, "the build finished before it could be killed"
        time.sleep(0.05)
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    assert live_folder(out).name == before and len(read_index(out).documents) == 1  # still the old index

    summary = build(corpus, out, encoder)
    total = summary.embedded + summary.resumed + summary.reused
    assert summary.resumed >= 256 and summary.embedded < total - 256  # the passages and a chunk of sentences
    assert f"Resumed: {summary.resumed} texts" in "\n".join(summary.lines())
    assert len(read_index(out).documents) == 41 and not shards.exists()
    # The same vectors as a build from nothing.
    fresh = tmp_path / "fresh"
    build(corpus, fresh, encoder)
    import numpy as np

    a, b = read_index(out), read_index(fresh)
    assert list(a.sentence_keys) == list(b.sentence_keys)
    assert np.abs(a.sentence_vectors - b.sentence_vectors).max() < 1e-5
