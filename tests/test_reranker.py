"""The reranker: the shipped weights are checked at load, and the training command runs end to end."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from index.ingest import file_hash
from index.types import Document
from qa.reranker import MODELS, RECIPE_FILE, RERANKER_FILE, Reranker, RerankerMissing, candidate_text
from tests.conftest import ROOT


def test_the_shipped_reranker_matches_its_recorded_hash_and_recipe():
    recipe = json.loads((MODELS / RECIPE_FILE).read_text(encoding="utf-8"))
    reranker = Reranker()
    assert reranker.recipe["sha256"] == recipe["sha256"]
    assert (MODELS / RERANKER_FILE).stat().st_size == recipe["bytes"] <= 30_000_000
    assert (
        recipe["trained_on"]["squad_tuning_questions"] > 0 and "visitors_tune.jsonl" in recipe["trained_on"]["own_sets"]
    )
    good, bad = reranker.score(
        "When did the blockade start?",
        ["Since December 12, 2022, protesters have blocked the Lachin Corridor.", "Dunes can reach 180 metres."],
    )
    assert good > bad


@pytest.mark.parametrize("damage", ["flip", "remove"])
def test_a_damaged_or_missing_reranker_is_refused_in_one_sentence(tmp_path, damage):
    folder = tmp_path / "models"
    shutil.copytree(MODELS, folder)
    target = folder / RERANKER_FILE
    if damage == "remove":
        target.unlink()
        with pytest.raises(RerankerMissing, match=r"^The reranker is missing from .*python -m eval train-reranker"):
            Reranker(folder)
    else:
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        with pytest.raises(RerankerMissing, match=r"reranker.onnx is damaged \(its sha256 is not the one in"):
            Reranker(folder)


def test_a_candidate_is_read_under_its_title_headings_and_author():
    post = Document("t.txt", "A thread", "Ann Lee (@ann)", "Twitter", None, "thread", "")
    article = Document("a.txt", "The Blockade", None, "EVN Report", None, "article", "")
    record = Document("c.jsonl#7", "glacier", None, None, None, None, "")
    assert candidate_text(post, "", "I speak Azerbaijani.") == "A thread (Ann Lee (@ann)): I speak Azerbaijani."
    assert candidate_text(article, "Solutions › Airlift", "So far …") == "The Blockade › Solutions › Airlift: So far …"
    assert candidate_text(record, "glacier", "a slowly moving mass of ice") == "glacier: a slowly moving mass of ice"


def tiny_squad(folder):
    """Two paragraphs of an article in the tuning half, in the shared dataset's format."""
    folder.mkdir(parents=True)
    texts = [
        "The Nile flows north through Egypt. It floods every summer. Farmers plant after the flood.",
        "The Amazon carries more water than any river. It crosses Brazil. Its basin is a rainforest.",
    ]
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            out.write(json.dumps({"id": f"squad11dev-003-00{i}", "title": "Rivers", "text": text}) + "\n")
    asked = [("When does the Nile flood?", 0, "every summer"), ("Which country does the Amazon cross?", 1, "Brazil")]
    with (folder / "questions.jsonl").open("w", encoding="utf-8") as out:
        for n, (question, p, answer) in enumerate(asked):
            start = texts[p].index(answer)
            row = {"id": f"q{n}", "question": question, "answers": [answer], "answer_starts": [start]}
            out.write(json.dumps({**row, "doc_id": f"squad11dev-003-00{p}", "is_impossible": False}) + "\n")


def test_the_training_command_runs_end_to_end_and_its_onnx_scores_as_torch_does(tmp_path):
    from eval.train_reranker import OWN_SETS, Recipe, run, torch_scores

    tiny_squad(tmp_path / "data" / "squad11_dev")
    command = [sys.executable, "-m", "eval", "train-reranker", "--out", str(tmp_path / "cli"), "--layers", "1"]
    command += [
        "--data",
        str(tmp_path / "data"),
        "--squad-questions",
        "2",
        "--no-answer-questions",
        "0",
        "--own-questions",
        "3",
        "--own-repeats",
        "1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    # 2 questions and the article's title asked 4 ways; 3 own questions and each section heading of the seeds
    said = re.search(r"(\d+) SQuAD tuning items, (\d+) items from the own sets", done.stdout)
    assert said and int(said[1]) == 2 + 4 and int(said[2]) > 3, done.stdout
    assert "Wrote " in done.stdout and Reranker(tmp_path / "cli").recipe["recipe"]["layers"] == 1

    recipe = Recipe(layers=1, squad_questions=2, no_answer_questions=0, own_questions=2, own_repeats=1)
    trained = run(
        recipe, out=tmp_path / "api", squad=tmp_path / "data" / "squad11_dev", own=OWN_SETS, say=lambda _: None
    )
    question = "When does the Nile flood?"
    pairs = ["Rivers: It floods every summer.", "Rivers: It crosses Brazil.", "Rivers: " + "water " * 200]
    expected = torch_scores(trained["network"], trained["tokenizer"], question, pairs, recipe.max_pieces)
    import onnxruntime

    from qa.reranker import encode_pairs

    session = onnxruntime.InferenceSession(str(trained["fp32"]), providers=["CPUExecutionProvider"])
    exported = session.run(None, encode_pairs(trained["tokenizer"], question, pairs, recipe.max_pieces))[0]
    assert np.abs(exported - expected).max() < 1e-4
    # The int8 file that ships keeps the scores close (the cut 200-word pair aside: int8 noise adds up there).
    assert np.abs(Reranker(tmp_path / "api").score(question, pairs[:2]) - expected[:2]).max() < 0.25


def test_a_shipped_reranker_exported_again_scores_as_before_and_says_where_it_came_from(tmp_path):
    """`reexport-reranker` reads the int8 file's weights back into torch (`network_from_onnx`) and exports
    them in the current graph: the logits stay within int8 noise, the ranking the same; the recipe
    and the scorer's file name the new file's hash, and the recipe the old one."""
    folder = tmp_path / "models"
    shutil.copytree(MODELS, folder)
    before = json.loads((MODELS / RECIPE_FILE).read_text())["sha256"]
    command = [sys.executable, "-m", "eval", "reexport-reranker", "--models", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0 and "Wrote " in done.stdout, done.stderr[-2000:]
    again = Reranker(folder)  # its hash checks at load
    assert again.recipe["sha256"] == file_hash(folder / RERANKER_FILE)
    assert again.recipe["exported_again"]["from_sha256"] == before
    assert json.loads((folder / "scorer.json").read_text())["recipe"]["reranker_sha256"] == again.recipe["sha256"]
    question = "When did the blockade start?"
    pairs = [
        "Since December 12, 2022, protesters have blocked the Lachin Corridor.",
        "The blockade has caused shortages of food and medicine.",
        "Dunes can reach 180 metres.",
    ]
    shipped, now = Reranker().score(question, pairs), again.score(question, pairs)
    assert np.abs(shipped - now).max() < 0.3 and list(np.argsort(now)) == list(np.argsort(shipped))


def test_distilling_teaches_a_smaller_reader_what_the_shipped_one_reads(seed_index, encoder, tmp_path):
    """`distill-reranker` end to end on a tiny SQuAD slice and one own question: the student has the kept
    layers, names its teacher, and its logits are closer to the teacher's than before it was taught."""
    from eval.distill import Lessons, Recording, reading_lists, run
    from index.build import build
    from tests.test_training_data import tiny_squad

    squad = tiny_squad(tmp_path / "squad11_dev")
    build(squad / "corpus.jsonl", tmp_path / "squad_index", encoder)
    own = tmp_path / "own.jsonl"
    own.write_text(
        '{"id": "o1", "question": "when did the blockade start", "answerable": false, "kind": "absent"}\n',
        encoding="utf-8",
    )
    # one step an epoch over the same lists: the first steps and the last see the same data
    lessons = Lessons(keep=(0, 5), squad_questions=4, off_topic=1, epochs=10, batch=8, lr=3e-4)
    places = {"squad": squad, "own": (own,), "seed_index": seed_index, "squad_index": tmp_path / "squad_index"}
    lists = reading_lists(MODELS, lessons, say=lambda _: None, **places)
    # SQuAD's 4 and the own question over SQuAD; the own question twice (as written, as typed) and a SQuAD one
    # over the seeds
    assert len(lists) == 4 + 1 + 2 + 1 and all(len(c) == len(t) > 0 for _, c, t in lists)
    with pytest.raises(ValueError, match="cannot replace its teacher"):
        run(lessons, out=MODELS, say=lambda _: None, **places)
    info = run(lessons, out=tmp_path / "student", teacher=MODELS, say=lambda _: None, **places)
    student = Reranker(tmp_path / "student")
    teacher = json.loads((MODELS / RECIPE_FILE).read_text())
    assert student.recipe["recipe"]["layers"] == 2 and info["distilled"]["teacher_sha256"] == teacher["sha256"]
    assert info["distilled"]["last_mse"] < info["distilled"]["first_mse"]  # it learned from its teacher
    recording = Recording(student)
    recording.score("when does the nile flood", ["Rivers: It floods every summer."])
    assert [(q, c) for q, c, _ in recording.read] == [("when does the nile flood", ["Rivers: It floods every summer."])]
