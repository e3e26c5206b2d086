"""Synonyms from WordNet: the reader on a small database written here, then the real one on the seed corpus."""

import dataclasses
import subprocess
import sys

import pytest

import index.wordnet as wordnet
from index.build import build
from index.checks import check_synonyms
from index.errors import IndexMismatch, QAError
from index.store import read_index, read_manifest
from qa.engine import Engine
from qa.extract import known_share, term_weights
from qa.retrievers import BM25Retriever
from qa.settings import Settings
from tests.conftest import write_corpus

HEADER = "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n"


def small_wordnet(folder):
    """Three verb senses of "weigh" (the third rare), "count" and "consider"; a noun synset with a
    two-word lemma; empty adjective and adverb files."""
    folder.mkdir()
    files = {
        # lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets (most frequent first)
        "index.verb": HEADER
        + "consider v 1 1 @ 1 1 00000100\n"
        + "count v 1 0 1 1 00000100\n"
        + "press v 1 0 1 0 00000300\n"
        + "weigh v 3 2 @ ~ 3 2 00000100 00000200 00000300\n",
        # offset lex_filenum ss_type w_cnt (hex) word lex_id ... p_cnt pointers | gloss
        "data.verb": HEADER
        + "00000100 31 v 03 consider 0 count 0 weigh 0 001 @ 00000900 v 0000 | think about carefully\n"
        + "00000200 42 v 01 weigh 0 000 | have a certain weight\n"
        + "00000300 35 v 02 press 0 weigh 1 000 | to be oppressive or burdensome\n",
        "index.noun": HEADER + "child n 1 0 1 1 00000500\nkid n 1 0 1 1 00000500\nsmall_fry n 1 0 1 0 00000500\n",
        "data.noun": HEADER + "00000500 18 n 03 child 0 kid 0 small_fry 0 000 | a young person\n",
        "index.adj": HEADER,
        "data.adj": HEADER,
        "index.adv": HEADER,
        "data.adv": HEADER,
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="latin-1")
    return folder


def test_synonyms_come_from_a_words_first_senses_and_only_name_corpus_terms(tmp_path):
    folder = small_wordnet(tmp_path / "wn")
    corpus_terms = {"consid", "count", "press", "child"}  # BM25 stems
    table = wordnet.synonym_table(folder, corpus_terms, senses=2)
    # "weigh": its first sense brings "consider" and "count"; "press" shares only its third, rare sense.
    # "kid": "child"; the two-word "small fry" is no term. Words the corpus holds are not looked up.
    assert table == {"weigh": ["consid", "count"], "kid": ["child"]}
    assert wordnet.synonym_table(folder, corpus_terms, senses=3)["weigh"] == ["consid", "count", "press"]
    with pytest.raises(ValueError):
        wordnet.synonym_table(folder, corpus_terms, senses=0)


def test_a_folder_without_the_database_files_is_no_wordnet(tmp_path):
    folder = small_wordnet(tmp_path / "wn")
    assert wordnet.find_wordnet(folder) == folder
    (folder / "data.adv").unlink()
    assert wordnet.find_wordnet(folder) is None
    corpus = write_corpus(tmp_path / "c", {"a.txt": "One sentence."})
    with pytest.raises(QAError, match="does not hold the WordNet database files"):
        build(corpus, tmp_path / "idx", wordnet=folder)


def test_damaged_wordnet_files_stop_the_build_with_one_sentence(tmp_path):
    folder = small_wordnet(tmp_path / "wn")
    data = folder / "data.verb"
    data.write_text(data.read_text(encoding="latin-1").replace("00000200 42 v 01", "00000200 42 v"), encoding="latin-1")
    corpus = write_corpus(tmp_path / "c", {"a.txt": "One sentence."})
    with pytest.raises(QAError, match=r"^The WordNet files at .* are damaged .*fetches a fresh copy"):
        build(corpus, tmp_path / "idx", wordnet=folder)
    assert not (tmp_path / "idx").exists()  # nothing half-written


def test_bm25_counts_a_missing_word_by_its_best_synonym_at_a_lower_weight():
    passages = [["court", "rule"], ["airlift"], ["court", "court", "appeal"]]
    plain = BM25Retriever.from_tokens(passages)
    bm25 = BM25Retriever.from_tokens(passages, synonyms={"tribun": ["court", "appeal"]}, synonym_weight=0.8)
    assert not plain.query_scores("tribunal").any()
    scores, court, appeal = (bm25.query_scores(q) for q in ("tribunal", "court", "appeal"))
    assert scores[1] == 0 and scores[0] == pytest.approx(0.8 * court[0])
    assert scores[2] == pytest.approx(0.8 * max(court[2], appeal[2]))  # the best synonym, not the sum
    # A word the corpus holds is matched as itself only.
    assert bm25.query_scores("court rule").tolist() == plain.query_scores("court rule").tolist()
    with pytest.raises(ValueError):
        BM25Retriever.from_tokens(passages, synonym_weight=1.5)
    # BM25 sees "tribunal" at 0.8 through "court": its share of the question counts so, for the fusion vote.
    idf = {"court": 2.0, "rule": 1.0}
    weights = term_weights(["tribun", "rule"], idf)  # a term the corpus lacks weighs as its rarest term
    assert known_share(weights, idf) == pytest.approx(1 / 3)
    assert known_share(weights, idf, {"tribun": ["court"]}, 0.8) == pytest.approx((1 + 0.8 * 2) / 3)


def test_the_seed_index_has_synonyms_from_the_projects_wordnet(seed_index):
    assert wordnet.find_wordnet() is not None, "WordNet is missing: run bash scripts/fetch_wordnet.sh"
    stored = read_index(seed_index)
    assert stored.manifest["synonyms"]["words"] == len(stored.synonyms) > 1000
    assert "consid" in stored.synonyms["weigh"] and stored.synonyms["tribun"] == ["court"]
    vocabulary = set(stored.bm25.vocabulary)
    assert not set(stored.synonyms) & vocabulary
    assert {t for found in stored.synonyms.values() for t in found} <= vocabulary


def test_the_synonyms_a_question_used_are_named_for_the_miss_report(engine, seed_index, tmp_path):
    used = engine.synonyms_used("What punishment ought Western powers weigh if Baku says no?")
    assert list(used) == ["weigh"] and "consid" in used["weigh"]  # "punishment" is in the corpus
    assert engine.synonyms_used("How many children are stranded in Armenia?") == {}
    # The article answers this one (the International Court of Justice); marked unanswerable here so
    # that the report lists it as a miss.
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        '{"id": "p1", "question": "Which tribunal did Armenia appeal to?", "answerable": false, "kind": "absent"}\n'
    )
    run = [sys.executable, "-m", "eval", "--index", str(seed_index), "--questions", str(questions), "--no-progress"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "synonyms: tribun → court" in done.stdout


def test_a_question_worded_with_synonyms_reaches_the_keyword_search(engine):
    # None of "language", "writer", "mastered" is in the corpus; WordNet gives "speech", "author",
    # "overcome". Without them the keyword search finds no passage and votes with no weight in the
    # hybrid ranking; with them it finds passages and its words count in the quotes' features.
    question = "What language has the writer mastered?"
    without = Engine(dataclasses.replace(engine.stored, synonyms={}), engine.settings, engine.encoder, engine.reranker)
    assert engine.question_terms(question)[1] > 0 and without.question_terms(question)[1] == 0
    assert engine.bm25.retrieve(question, 5) and not without.bm25.retrieve(question, 5)


def test_an_index_built_before_wordnet_is_rebuilt_when_stale(tmp_path, encoder, monkeypatch):
    corpus, out = write_corpus(tmp_path / "c", {"a.txt": "The court ruled on the appeal."}), tmp_path / "idx"
    monkeypatch.setattr(wordnet, "SEARCHED", ())
    summary = build(corpus, out, encoder)
    assert "No WordNet found" in summary.lines()[-1] and read_manifest(out)["synonyms"] is None
    check_synonyms(read_manifest(out), out, corpus)  # no WordNet now either: nothing to rebuild
    monkeypatch.undo()
    with pytest.raises(IndexMismatch, match=r"built without synonyms.*rebuild it with: python -m index build"):
        check_synonyms(read_manifest(out), out, corpus)
    assert Engine.load(Settings(index=out), encoder).stored.synonyms == {}  # still loads
    run = [sys.executable, "-m", "index", "build", "--corpus", str(corpus), "--out", str(out), "--quiet", "--if-stale"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Synonyms from WordNet" in done.stdout, done.stderr
    assert read_index(out).synonyms["tribun"] == ["court"]
    again = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert "is up to date" in again.stdout
