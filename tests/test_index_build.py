import json
import os
import shutil
from functools import partial

import numpy as np
import pytest

from index.build import build
from index.checks import check_index
from index.embed import question_pieces
from index.errors import IndexMismatch, IndexNotFound, QAError
from index.query_encoder import QUERY_MODEL
from index.store import FORMAT_VERSION, live_folder, read_index, read_manifest
from qa.engine import Engine
from qa.settings import Settings
from tests.conftest import SEED_CORPUS, write_corpus


def test_manifest_records_model_corpus_and_counts(seed_index):
    manifest = read_manifest(seed_index)
    assert manifest["format_version"] == FORMAT_VERSION == 4
    assert manifest["model"]["key"] == "minilm" and manifest["model"]["name"] == "all-MiniLM-L6-v2"
    assert manifest["model"]["dimension"] == 384
    assert len(manifest["model"]["sha256"]) == 64
    assert set(manifest["corpus"]["files"]) == {"000_1dd4618f7b8300fb.txt", "004_672af6158f85d9ce.txt", "sources.json"}
    assert manifest["counts"]["documents"] == 2
    assert manifest["parameters"]["bm25_variant"] == "BM25Plus"
    files = list(live_folder(seed_index).iterdir())
    assert not any(p.suffix in (".pkl", ".pickle") for p in files)
    # The arrays are plain numbers, flags or fixed-width keys, readable without unpickling anything.
    for path in (p for p in files if p.suffix == ".npy"):
        assert np.load(path, allow_pickle=False).dtype.kind in "iufbS"


def test_stored_word_pieces_are_the_model_pieces_of_each_sentence(seed_index, encoder):
    stored = read_index(seed_index)
    pieces = stored.sentence_tokens
    assert len(pieces) == len(stored.sentences) == stored.manifest["counts"]["sentences"]
    assert pieces.offsets[-1] == len(pieces.codes) == stored.manifest["counts"]["word_pieces"]
    texts = {d.doc_id: d.text for d in stored.documents}
    sample = range(0, len(stored.sentences), max(1, len(stored.sentences) // 12))
    sentences = [stored.sentences[i] for i in sample]
    _, fresh = encoder.encode_tokens([texts[s.doc_id][s.start : s.end] for s in sentences])
    for i, expected in zip(sample, fresh, strict=True):
        kept, counts = pieces.gather([i])
        assert counts.tolist() == [len(expected)] and len(expected) > 0
        # int8 storage: every piece keeps its direction (cosine with the model's own vector ≈ 1).
        cosines = np.sum(kept * expected, axis=1) / np.linalg.norm(kept, axis=1)
        assert cosines.min() > 0.999


def test_stored_offsets_are_verbatim(seed_index):
    stored = read_index(seed_index)
    texts = {d.doc_id: d.text for d in stored.documents}
    assert stored.passage_index.ntotal == len(stored.passages)
    assert stored.sentence_index.ntotal == len(stored.sentences)
    for p in stored.passages:
        assert 0 <= p.start < p.end <= len(texts[p.doc_id])
    for s in stored.sentences:
        passage = stored.passages[s.passage]
        assert passage.start <= s.start < s.end <= passage.end


def small_corpus(folder, extra=""):
    return write_corpus(
        folder,
        {
            "rivers.txt": "The Nile flows north through Egypt. It floods every summer.\n\nThe Amazon carries more water.",
            "deserts.txt": "The Sahara is the largest hot desert. Dunes there can reach 180 metres." + extra,
        },
        {"rivers.txt": {"title": "Rivers", "publisher": "Test Press"}},
    )


def test_rebuild_reuses_embeddings_and_reports_changes(tmp_path, encoder):
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    first = build(corpus, out, encoder)
    assert first.added == ["deserts.txt", "rivers.txt"] and first.embedded > 0
    pieces = read_index(out).sentence_tokens
    second = build(corpus, out, encoder)
    assert second.embedded == 0 and not (second.added or second.removed or second.changed)
    reused = read_index(out).sentence_tokens  # word pieces come back from the previous index unchanged
    assert np.array_equal(reused.codes, pieces.codes) and np.array_equal(reused.offsets, pieces.offsets)
    assert "No document changed" in " ".join(second.lines())
    (corpus / "deserts.txt").write_text("The Gobi is a cold desert. It lies in Asia.", encoding="utf-8")
    (corpus / "rivers.txt").unlink()
    third = build(corpus, out, encoder)
    assert third.changed == ["deserts.txt"] and third.removed == ["rivers.txt"]
    assert 0 < third.embedded < first.embedded + 5
    assert [d.doc_id for d in read_index(out).documents] == ["deserts.txt"]


def test_stale_index_is_refused_with_the_command_to_run(tmp_path, encoder):
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    build(corpus, out, encoder)
    Engine.load(Settings(index=out), encoder)  # fresh: loads
    (corpus / "deserts.txt").write_text("Changed text.", encoding="utf-8")
    with pytest.raises(IndexMismatch, match=r"deserts\.txt changed.*python -m index build"):
        Engine.load(Settings(index=out), encoder)


def test_other_model_weights_are_refused(tmp_path, encoder):
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    build(corpus, out, encoder)
    manifest = read_manifest(out)
    manifest["model"]["sha256"] = "0" * 64
    with pytest.raises(IndexMismatch, match="other model weights"):
        check_index(manifest, out)


def test_missing_index_says_how_to_build_it(tmp_path):
    with pytest.raises(IndexNotFound, match="python -m index build"):
        Engine.load(Settings(index=tmp_path / "nowhere"))


@pytest.mark.parametrize("damage", ["remove", "sentences.vectors.npy", "documents.text.bin", "bm25.shares.npy"])
def test_damaged_index_is_refused_in_one_sentence_and_rebuilt_if_stale(tmp_path, encoder, damage):
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    build(corpus, out, encoder)
    victim = live_folder(out) / ("tokens.scales.npy" if damage == "remove" else damage)  # removed, or cut short
    if damage == "remove":
        victim.unlink()
    else:
        victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(IndexMismatch, match=r"^The index at .* is damaged.*; rebuild it with: python -m index build"):
        Engine.load(Settings(index=out, corpus=corpus), encoder)

    rebuilt = build(corpus, out, encoder)
    assert rebuilt.reused == 0 and "The previous index was not reused (The index at" in " ".join(rebuilt.lines())
    assert len(Engine.load(Settings(index=out, corpus=corpus), encoder).stored.sentences) > 0
    (live_folder(out) / "tokens.scales.npy").unlink()  # damaged again: the command line's --if-stale rebuilds it
    with pytest.raises(IndexMismatch, match="tokens.scales.npy is missing"):
        Engine.load(Settings(index=out, corpus=corpus), encoder)

    from index.__main__ import main

    assert main(["build", "--corpus", str(corpus), "--out", str(out), "--if-stale", "--quiet"]) == 0
    assert len(Engine.load(Settings(index=out, corpus=corpus), encoder).stored.sentences) > 0


def test_interrupted_build_leaves_previous_index_usable(tmp_path, encoder, monkeypatch):
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    build(corpus, out, encoder)
    before = live_folder(out)

    import index.store

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed halfway")

    (corpus / "deserts.txt").write_text("A new desert text. It is different.", encoding="utf-8")
    monkeypatch.setattr(index.store.BM25Index, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        build(corpus, out, encoder)
    monkeypatch.undo()
    assert live_folder(out) == before
    stored = read_index(out)
    assert any("Sahara" in d.text for d in stored.documents)
    # The next build cleans up the unfinished folder and switches over.
    build(corpus, out, encoder)
    assert [p.name for p in out.iterdir() if p.name.startswith("build-")] == [live_folder(out).name]


def test_cli_build_and_if_stale(tmp_path, encoder):
    import subprocess
    import sys

    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    run = [sys.executable, "-m", "index", "build", "--corpus", str(corpus), "--out", str(out), "--quiet"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Indexed 2 documents" in done.stdout and "Added: deserts.txt, rivers.txt" in done.stdout
    again = subprocess.run([*run, "--if-stale"], capture_output=True, text=True, timeout=300)
    assert "is up to date" in again.stdout
    shutil.rmtree(corpus)
    gone = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert gone.returncode == 2 and "does not exist" in gone.stderr and "Traceback" not in gone.stderr
    assert json.loads((live_folder(out) / "manifest.json").read_text())["counts"]["documents"] == 2


def test_ctrl_c_during_a_build_is_one_line_and_leaves_no_index_half_made(tmp_path):
    import os
    import select
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "idx"
    run = [sys.executable, "-m", "index", "build", "--corpus", str(SEED_CORPUS), "--out", str(out)]
    build_process = subprocess.Popen(
        run, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    said, deadline = b"", time.time() + 120
    while b"Embedding passages" not in said and time.time() < deadline:  # the progress bar is up
        if select.select([build_process.stderr], [], [], 1)[0]:
            said += os.read(build_process.stderr.fileno(), 4096)
    build_process.send_signal(signal.SIGINT)
    said += build_process.communicate(timeout=120)[1]
    assert build_process.returncode == 130 and b"Traceback" not in said
    assert said.decode().rstrip().endswith("Interrupted; the index in use is unchanged.")
    with pytest.raises(IndexNotFound):  # nothing half-built is taken for an index
        read_index(out)


def test_an_index_location_that_cannot_be_a_folder_is_refused_before_embedding(tmp_path, encoder):
    corpus, taken = small_corpus(tmp_path / "c"), tmp_path / "a-file"
    taken.write_text("not an index")
    for out in (taken, taken / "idx"):
        with pytest.raises(QAError, match=r"a-file is a file, not a folder; pass --out with a folder for the index"):
            build(corpus, out, encoder=encoder)
    assert taken.read_text() == "not an index"


def test_a_records_sentences_are_searched_with_its_title(tmp_path, encoder):
    # WordNet-like glosses: the one that defines "glacier" never names it, two about other things do.
    records = [
        {"id": "n1", "title": "crampon", "text": "a spiked iron plate fixed to a boot for walking on a glacier"},
        {"id": "n2", "title": "glacier", "text": "a slowly moving mass of ice"},
        {"id": "n3", "title": "moraine", "text": "rock and soil carried along and deposited by a glacier"},
        {"id": "n4", "title": "violin", "text": "bowed stringed instrument that is the highest member of the family"},
    ]
    corpus = tmp_path / "glosses"
    corpus.mkdir()
    (corpus / "glosses.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    build(corpus, tmp_path / "idx", encoder)
    engine = Engine(read_index(tmp_path / "idx"), Settings(index=tmp_path / "idx"), encoder)
    answer = engine.answer("What is a glacier?", threshold=float("-inf"))
    # Found through its title though its text never names it. (The scorer puts "moraine" first: its
    # heading-overlap weight, learned on SQuAD where every paragraph of an article shares the title, is
    # negative; a known miss, eval/EXPERIMENTS.md.)
    assert ("glacier", "a slowly moving mass of ice") in [(q.title, q.text) for q in answer.quotes]


def test_questions_are_encoded_without_torch_exactly_as_torch_encodes_them(engine, encoder):
    from index.query_encoder import OnnxEncoder

    assert isinstance(engine.encoder, OnnxEncoder)  # what `Engine.load` picks for a fresh build
    texts = [
        "Why can't kids attend lessons?",
        "What is the Lachin Corridor also called?",
        "“Road of Life” – 1,100 Nagorno-Karabakh Armenians (U.S., U.N.)",
        "blockade " * 400,  # past the model's 256 word pieces: cut the same way
    ]
    vectors, pieces = engine.encoder.encode_tokens(texts)  # one batch, padded to its longest text
    expected_vectors, expected_pieces = encoder.encode_tokens(texts)
    assert np.sum(vectors * expected_vectors, axis=1).min() > 0.9999
    for got, expected in zip(pieces, expected_pieces, strict=True):
        assert got.shape == expected.shape and np.sum(got * expected, axis=1).min() > 0.9999
    assert len(pieces[3]) == 254  # 256 pieces less [CLS] and [SEP]
    # A question's pieces with its asking word, as the engine asks for them.
    pick = partial(question_pieces, asking_weight=3)
    (got,), (expected,) = (
        e.encode_tokens(["Whom does the author recommend?"], pick=pick)[1] for e in (engine.encoder, encoder)
    )
    assert got.shape == expected.shape == (5, 384) and np.sum(got * expected, axis=1).min() > 0.9999


def test_answers_are_the_same_with_either_encoder(engine, encoder):
    with_torch = Engine(engine.stored, engine.settings, encoder)
    for question in ("Why are schools closed?", "Who really makes up the so-called environmentalists?"):
        fast, slow = engine.answer(question), with_torch.answer(question)
        assert [(q.doc_id, q.start, q.end) for q in fast.quotes] == [(q.doc_id, q.start, q.end) for q in slow.quotes]
        assert fast.quotes and fast.confidence == pytest.approx(slow.confidence, abs=1e-4)


def test_answering_from_the_command_line_does_not_load_torch(seed_index):
    import subprocess
    import sys

    script = (
        "import sys; from qa.__main__ import main; "
        f"code = main(['ask', '--json', '--index', {str(seed_index)!r}, 'Why are schools closed?']); "
        "print('torch loaded' if 'torch' in sys.modules else 'no torch', code)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer, verdict = done.stdout.strip().splitlines()
    assert "lack of heating" in json.loads(answer)["quotes"][0]["text"]
    assert verdict == "no torch 0"


def test_a_rebuild_reuses_the_exported_model_and_cleans_up_after_a_killed_build(tmp_path, encoder, monkeypatch):
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    build(corpus, out, encoder)
    size = (live_folder(out) / QUERY_MODEL).stat().st_size
    exported = read_manifest(out)["query_model"]
    assert (exported["file"], exported["bytes"], len(exported["sha256"])) == (QUERY_MODEL, size, 64)
    assert size > 80_000_000
    (out / f".{QUERY_MODEL}.12345.tmp").write_bytes(b"left by a build that was killed")

    def no_export(self, path):
        raise AssertionError("exported again")

    monkeypatch.setattr(type(encoder), "export_onnx", no_export)
    (corpus / "deserts.txt").write_text("The Gobi is a cold desert.", encoding="utf-8")
    build(corpus, out, encoder)  # same weights: the previous build's file is reused
    assert (live_folder(out) / QUERY_MODEL).stat().st_size == size
    assert sorted(p.name for p in out.iterdir()) == sorted(["CURRENT", live_folder(out).name])
    assert "Gobi" in Engine.load(Settings(index=out, corpus=corpus)).answer("Which desert is cold?").quotes[0].text


def test_without_an_exported_model_questions_are_encoded_with_torch(tmp_path, encoder, monkeypatch):
    from index.checks import check_current
    from index.embed import Encoder

    def failing_export(self, path):
        raise RuntimeError("exporter failed\nwith details")

    monkeypatch.setattr(type(encoder), "export_onnx", failing_export)
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    summary = build(corpus, out, encoder)
    assert (
        "The model could not be exported for answering (RuntimeError: exporter failed): questions will be "
        "encoded with torch, which loads more slowly." in summary.lines()
    )
    assert read_manifest(out)["query_model"] is None and not (live_folder(out) / QUERY_MODEL).exists()
    check_current(read_manifest(out), out, corpus)  # current as it is: a rebuild would fail the same way
    engine = Engine.load(Settings(index=out, corpus=corpus))
    assert type(engine.encoder) is Encoder
    assert "Nile" in engine.answer("Which river floods every summer?").quotes[0].text


def test_an_index_built_before_the_export_is_rebuilt_when_stale(tmp_path, encoder):
    from index.__main__ import main

    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    build(corpus, out, encoder)
    manifest_file = live_folder(out) / "manifest.json"
    old = json.loads(manifest_file.read_text())
    del old["query_model"]
    manifest_file.write_text(json.dumps(old))
    (live_folder(out) / QUERY_MODEL).unlink()
    assert len(Engine.load(Settings(index=out, corpus=corpus)).stored.sentences) > 0  # still answers, with torch
    assert main(["build", "--corpus", str(corpus), "--out", str(out), "--if-stale", "--quiet"]) == 0
    assert read_manifest(out)["query_model"]["file"] == QUERY_MODEL


@pytest.mark.parametrize(
    ("damage", "said"),
    [("remove", "is missing"), ("truncate", "is cut short"), ("garble", "cannot be loaded: InvalidProtobuf")],
)
def test_a_damaged_exported_model_is_refused_in_one_sentence(tmp_path, encoder, damage, said):
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    build(corpus, out, encoder)
    victim = live_folder(out) / QUERY_MODEL
    if damage == "remove":
        victim.unlink()
    elif damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:1000])
    else:  # same size, other bytes: only loading it tells
        victim.write_bytes(b"\x07" * victim.stat().st_size)
    with pytest.raises(
        IndexMismatch, match=rf"^The index at \S+ is damaged \({QUERY_MODEL} {said}\); rebuild it with: "
    ):
        Engine.load(Settings(index=out, corpus=corpus))
    from index.__main__ import main

    assert main(["build", "--corpus", str(corpus), "--out", str(out), "--if-stale", "--quiet"]) == 0
    assert "Nile" in Engine.load(Settings(index=out, corpus=corpus)).answer("Which river floods?").quotes[0].text


def test_a_rebuild_with_another_model_embeds_everything_afresh(tmp_path, encoder):
    from index.embed import Encoder

    other = "minilm" if encoder.model_key == "mpnet" else "mpnet"
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    build(corpus, out, encoder)
    switched = build(corpus, out, Encoder(model=other))  # vectors of the first model are never reused
    assert switched.reused == 0 and switched.embedded > 0
    manifest = read_manifest(out)
    assert manifest["model"]["key"] == other
    assert manifest["model"]["dimension"] == {"minilm": 384, "mpnet": 768}[other]
    answer = Engine.load(Settings(index=out)).answer("Which river floods every summer?")
    assert answer.quotes and "Nile" in answer.quotes[0].text + (
        answer.quotes[0].context.text if answer.quotes[0].context else ""
    )


def test_the_cli_builds_with_the_model_asked_for_and_keeps_it(tmp_path):
    import subprocess
    import sys

    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    run = [sys.executable, "-m", "index", "build", "--quiet", "--corpus", str(corpus), "--out", str(out)]
    done = subprocess.run(
        [*run, "--model", "minilm"], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert done.returncode == 0, done.stderr
    assert read_manifest(out)["model"]["key"] == "minilm"
    again = subprocess.run(
        [*run, "--if-stale"], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert "up to date" in again.stdout and read_manifest(out)["model"]["key"] == "minilm"
    wrong = subprocess.run([*run, "--model", "bert"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "invalid choice: 'bert'" in wrong.stderr


def _as_format_3(folder) -> None:
    """Rewrite build `folder` in the layout of format 3 (JSON lines and FAISS files), as an index built
    before the memory-mapped tables would be."""
    import dataclasses
    import json

    import faiss

    stored = read_index(folder.parent, folder)
    lines = {
        "documents.jsonl": [dataclasses.asdict(d) for d in stored.documents],
        "passages.jsonl": [
            {**dataclasses.asdict(p), "context": c, "key": k}
            for p, c, k in zip(stored.passages, stored.contexts, stored.passage_keys, strict=True)
        ],
        "sentences.jsonl": [
            [0, s.start, s.end, s.passage, k] for s, k in zip(stored.sentences, stored.sentence_keys, strict=True)
        ],
    }
    for name, rows in lines.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for part, vectors in (("passages", stored.passage_vectors), ("sentences", stored.sentence_vectors)):
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(np.ascontiguousarray(vectors))
        faiss.write_index(flat, str(folder / f"{part}.faiss"))
    for path in folder.iterdir():
        if path.name.startswith(("documents.", "passages.", "sentences.", "bm25.")) and path.suffix in (".npy", ".bin"):
            path.unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format_version": 3}))


def test_an_index_of_the_previous_format_is_refused_and_its_embeddings_reused(tmp_path, encoder):
    corpus, out = small_corpus(tmp_path / "c"), tmp_path / "idx"
    first = build(corpus, out, encoder)
    _as_format_3(live_folder(out))
    with pytest.raises(IndexMismatch) as refused:
        Engine.load(Settings(index=out, corpus=corpus), encoder)
    assert str(refused.value) == (
        f"The index at {out} has format 3, this code reads format {FORMAT_VERSION}; "
        f"rebuild it with: python -m index build --corpus <corpus folder> --out {out}."
    )
    rebuilt = build(corpus, out, encoder)
    assert (rebuilt.embedded, rebuilt.reused) == (0, first.embedded)  # moving to this format embeds nothing
    assert read_manifest(out)["format_version"] == FORMAT_VERSION
    assert Engine.load(Settings(index=out, corpus=corpus), encoder).answer("Where is the Sahara?").quotes
