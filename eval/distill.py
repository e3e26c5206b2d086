"""`python -m eval distill-reranker`: a smaller reader taught by the full one (measured, not shipped).

The student keeps some of the teacher's transformer layers (`keep`) and its score head, and learns to
give the teacher's logit for what the product has it read: the spans the scorer shortlists, under their
titles and headings, for tuning questions asked through the engine with the teacher reading
(`reading_lists`): SQuAD's tuning-half questions the teacher trained on, most in a visitor's form, over
SQuAD's paragraphs; the own tuning sets over the seeds; and each corpus's questions asked of the other
(off topic). The loss is the mean squared error on the logit, the number the scorer reads, so the student
speaks on the teacher's scale. The teacher is an int8 reranker file (the shipped one by default) read
back into torch (`network_from_onnx`); `python -m eval train-scorer --models OUT` then fits a scorer
over the student. A 4-layer student costs 0.72 of the teacher's time and, trained for 26 minutes here,
refuses far fewer off-topic questions, so the product reads fewer spans with the full reader instead
(eval/EXPERIMENTS.md, "Half the cost of an answer").
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eval.questions import load_questions
from eval.train_reranker import (
    OWN_SETS,
    SQUAD,
    Recipe,
    export,
    fit_steps,
    network_from_onnx,
    quantise,
    squad_questions,
)
from eval.training_data import visitor_question
from index.ingest import file_hash
from qa.reranker import INPUTS, MODELS, RECIPE_FILE, RERANKER_FILE, Reranker, encode_pairs

SEED_INDEX = Path("var/index")
SQUAD_INDEX = Path("var/bench/squad11_dev")


@dataclass(frozen=True)
class Lessons:
    keep: tuple[int, ...] = (0, 2, 4, 5)  # the teacher's layers the student starts from
    squad_questions: int = 2900  # the first of `squad_questions`' order: the teacher's own, not the scorer's
    off_topic: int = 300  # SQuAD questions asked of the seeds
    epochs: int = 1
    batch: int = 8  # questions per step
    lr: float = 1e-4
    seed: int = 13


class Recording:
    """A reranker that keeps what it read: (question, candidates, logits) for each call."""

    def __init__(self, reader: Reranker) -> None:
        self.reader, self.read = reader, []

    def score(self, question: str, candidates: list[str]) -> np.ndarray:
        logits = self.reader.score(question, candidates)
        self.read.append((question, list(candidates), logits))
        return logits


def reading_lists(
    teacher: Path, lessons: Lessons, squad: Path, own: tuple[Path, ...], seed_index: Path, squad_index: Path, say
):
    """What the teacher reads for the tuning questions, as (question, candidates, logits)."""
    from qa.engine import Engine
    from qa.scorer import SCORER_FILE, Scorer
    from qa.settings import Settings

    recipe = Recipe(**json.loads((teacher / RECIPE_FILE).read_text(encoding="utf-8"))["recipe"])
    # The scorer's shortlist picks what is read; it does not use the reader, so the shipped one serves a new teacher.
    shortlist = teacher / SCORER_FILE.name if (teacher / SCORER_FILE.name).is_file() else SCORER_FILE
    rng = random.Random(lessons.seed)
    pool = [q["question"] for q in squad_questions(squad, recipe.seed)]
    asked = [visitor_question(q, rng, 1 - recipe.visitor_share) for q in pool[: lessons.squad_questions]]
    own = [q.question for path in own for q in load_questions(path) if not q.follows]
    own += [visitor_question(q, rng, 0.0) for q in own]
    strangers = [visitor_question(q, rng) for q in pool[-lessons.off_topic :]] if lessons.off_topic else []
    plan = [(squad_index, asked + own[: len(own) // 2]), (seed_index, own + strangers)]
    started, lists = time.perf_counter(), []
    for index, questions in plan:
        engine = Engine.load(Settings.from_env(index=index, models=teacher), scorer=Scorer.load(shortlist))
        engine.reranker = recording = Recording(engine.reranker)
        for n, question in enumerate(questions, 1):
            engine.answer(question)
            if n % 500 == 0:
                say(f"{index.name}: {n}/{len(questions)} questions read in {time.perf_counter() - started:.0f} s")
        lists += recording.read
    return lists


def teach(student, tokenizer, lists, lessons: Lessons, max_pieces: int, say) -> tuple[float, float]:
    """Fit the student's logits to the teacher's; returns the mean squared error over the first and over
    the last steps (50 each, or half of them)."""
    import torch

    def loss_of(read):
        question, candidates, target = read
        feed = encode_pairs(tokenizer, question, candidates, max_pieces)
        logits = student(*(torch.from_numpy(feed[name]) for name in INPUTS))
        return torch.nn.functional.mse_loss(logits, torch.from_numpy(target))

    running = fit_steps(student, lists, loss_of, lessons.epochs, lessons.batch, lessons.lr, lessons.seed, say, "mse")
    window = max(1, min(50, len(running) // 2))
    return float(np.mean(running[:window])), float(np.mean(running[-window:]))


def run(
    lessons: Lessons,
    out: Path,
    teacher: Path = MODELS,
    squad: Path = SQUAD,
    seed_index: Path = SEED_INDEX,
    squad_index: Path = SQUAD_INDEX,
    own: tuple[Path, ...] = OWN_SETS,
    say=print,
) -> dict:
    """Distil the reranker in `teacher` into `out` (`reranker.onnx`, `reranker.json`, `tokenizer.json`).
    `out` must be another folder: the teacher's scorer was fitted to the teacher, not to the student."""
    import torch

    if Path(out).resolve() == Path(teacher).resolve():
        raise ValueError(f"the student cannot replace its teacher in {out}; give another --out folder")
    started = time.perf_counter()
    teacher_recipe = json.loads((teacher / RECIPE_FILE).read_text(encoding="utf-8"))
    network = network_from_onnx(teacher / RERANKER_FILE)
    if max(lessons.keep) >= len(network.bert.encoder.layer):
        raise ValueError(f"the teacher has {len(network.bert.encoder.layer)} layers; keep {lessons.keep} is not in it")
    lists = reading_lists(teacher, lessons, squad, own, seed_index, squad_index, say)
    pairs = sum(len(c) for _, c, _ in lists)
    say(f"{len(lists)} questions, {pairs} spans read by the teacher in {time.perf_counter() - started:.0f} s")
    network.bert.encoder.layer = torch.nn.ModuleList(network.bert.encoder.layer[i] for i in lessons.keep)
    network.bert.config.num_hidden_layers = len(lessons.keep)
    tokenizer = Reranker(teacher).tokenizer
    max_pieces = int(teacher_recipe["max_pieces"])
    first, error = teach(network, tokenizer, lists, lessons, max_pieces, say)
    work = Path(tempfile.mkdtemp())
    export(network, work / "student.fp32.onnx")
    quantise(work / "student.fp32.onnx", work / RERANKER_FILE)
    shutil.copyfile(teacher / "tokenizer.json", work / "tokenizer.json")
    out.mkdir(parents=True, exist_ok=True)
    for name in (RERANKER_FILE, "tokenizer.json"):
        shutil.copyfile(work / name, out / name)
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    info = {
        "sha256": file_hash(out / RERANKER_FILE),
        "bytes": (out / RERANKER_FILE).stat().st_size,
        "max_pieces": max_pieces,
        "recipe": {**teacher_recipe["recipe"], "layers": len(lessons.keep)},
        "distilled": {
            **asdict(lessons),
            "teacher_sha256": teacher_recipe["sha256"],
            "teacher_layers": teacher_recipe["recipe"]["layers"],
            "questions": len(lists),
            "spans": pairs,
            "first_mse": round(first, 4),
            "last_mse": round(error, 4),
        },
        "base_model": teacher_recipe["base_model"],
        "trained_on": teacher_recipe["trained_on"],
        "seconds": round(seconds, 1),
        "command": "python -m eval distill-reranker",
    }
    (out / RECIPE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    say(
        f"Wrote {out / RERANKER_FILE} ({info['bytes'] / 1e6:.1f} MB, a {len(lessons.keep)}-layer network, sha256 "
        f"{info['sha256'][:12]}…) in {seconds / 60:.1f} min; last mse {error:.3f}."
    )
    return info
