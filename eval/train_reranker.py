"""`python -m eval train-reranker`: fine-tune the cross-encoder that `qa.reranker` runs, export it to ONNX.

Recipe: all-MiniLM-L6-v2's weights (its first `layers` layers), a linear score over the mean of the
last hidden states. Each training item is a question with candidate sentences; the loss is the
cross-entropy of a softmax over [a fixed "no answer" logit 0, the candidates' logits], the target being
the sentence holding the answer, or "no answer" for a question the corpus does not answer. So the
score ranks candidates and says, against 0, whether any answers (Nogueira & Cho's passage reranking,
with a null option as in SQuAD 2.0 readers).

Data, never anything reported: SQuAD v1.1 dev articles 000-023 (CC BY-SA 4.0, Rajpurkar et al. 2016:
the answer's sentence against other sentences of its article) and this repository's own tuning sets
over the seed corpus (`eval/questions.jsonl`, `eval/visitors_tune.jsonl`: the evidence's sentence
against the sentences the bi-encoder ranks highest; absent and off-topic questions against those alone).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eval.questions import QUESTIONS_FILE, evidence_spans, load_questions
from index.embed import model_hash, model_path, trace_to_onnx
from index.ingest import file_hash, read_corpus
from index.passages import segment
from index.sentences import split_sentences
from qa.reranker import INPUTS, MODELS, RECIPE_FILE, RERANKER_FILE, candidate_text, encode_pairs, pair_tokenizer

SQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "squad11_dev"
TUNE_ARTICLES = range(0, 24)  # articles 000-023: SQuAD's tuning half; 024-047 are reported, never seen here
OWN_SETS = (QUESTIONS_FILE, Path(__file__).with_name("visitors_tune.jsonl"))
SEED_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@dataclass(frozen=True)
class Recipe:
    layers: int = 6
    max_pieces: int = 96
    negatives: int = 7
    squad_questions: int = 3000
    own_repeats: int = 4  # each own question is seen this many times (with fresh negatives)
    own_questions: int = 0  # 0: all of them (a smaller number is for a quick check of the command)
    epochs: int = 1
    batch: int = 8  # questions per step
    lr: float = 5e-5
    seed: int = 13


@dataclass(frozen=True)
class Item:
    question: str
    positive: str | None  # None: the corpus does not answer it
    negatives: tuple[str, ...]


def squad_items(folder: Path, count: int, negatives: int, rng: random.Random) -> list[Item]:
    """Questions of SQuAD's tuning half: the sentence holding the answer against other sentences of its
    article (half from its own paragraph when it has them)."""
    paragraphs = {}
    for line in (folder / "corpus.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if int(row["id"].split("-")[1]) in TUNE_ARTICLES:
            spans = split_sentences(row["text"])
            paragraphs[row["id"]] = (row["title"], row["text"], spans)
    by_article: dict[str, list[str]] = {}
    for pid in paragraphs:
        by_article.setdefault(pid.rsplit("-", 1)[0], []).append(pid)
    questions = [json.loads(line) for line in (folder / "questions.jsonl").open(encoding="utf-8")]
    questions = [q for q in questions if q["doc_id"] in paragraphs]
    rng.shuffle(questions)
    items = []
    for q in questions[:count]:
        title, text, spans = paragraphs[q["doc_id"]]
        at, length = q["answer_starts"][0], len(q["answers"][0])
        holding = [i for i, (s, e) in enumerate(spans) if s <= at and at + length <= e]
        if not holding:
            continue  # an answer across two sentences teaches nothing clear
        sentence = lambda s, e, t=text, title=title: candidate_text_record(title, t[s:e])  # noqa: E731
        own = [sentence(*spans[i]) for i in range(len(spans)) if i != holding[0]]
        others = [
            sentence(s, e, t)
            for pid in by_article[q["doc_id"].rsplit("-", 1)[0]]
            if pid != q["doc_id"]
            for t, sp in [(paragraphs[pid][1], paragraphs[pid][2])]
            for s, e in sp
        ]
        picked = rng.sample(own, min(len(own), negatives // 2))
        picked += rng.sample(others, min(len(others), negatives - len(picked)))
        items.append(Item(q["question"], sentence(*spans[holding[0]]), tuple(picked)))
    return items


def candidate_text_record(title: str, sentence: str) -> str:
    """A SQuAD sentence as the index presents a record's sentence: under its article's title."""
    from index.types import Document

    return candidate_text(Document("squad#p", title, None, None, None, None, ""), title, sentence)


def own_items(
    sets: tuple[Path, ...], corpus: Path, negatives: int, repeats: int, rng: random.Random, limit: int = 0
) -> list[Item]:
    """The own tuning sets over the seed corpus; negatives are drawn from the 20 sentences MiniLM ranks
    highest for the question (the ones the reranker will have to tell apart), the evidence's excluded."""
    from index.embed import Encoder

    documents, _ = read_corpus(corpus)
    seg = segment(documents)
    docs = {d.doc_id: d for d in documents}
    texts = [
        candidate_text(docs[s.doc_id], seg.contexts[s.passage], docs[s.doc_id].text[s.start : s.end])
        for s in seg.sentences
    ]
    questions = [q for path in sets for q in load_questions(path) if q.kind != "followup"]
    questions = questions[:limit] if limit else questions
    encoder = Encoder(model="minilm")
    sentence_vectors = encoder.encode(texts)
    question_vectors = encoder.encode([q.question for q in questions])
    items = []
    for q, vector in zip(questions, question_vectors, strict=True):
        positives = []
        if q.answerable:
            places = evidence_spans(docs[q.doc].text, q.evidence)
            positives = [
                i
                for i, s in enumerate(seg.sentences)
                if s.doc_id == q.doc and any(s.start < b and a < s.end for a, b in places)
            ]
            if not positives:
                continue
        ranked = [int(i) for i in np.argsort(-(sentence_vectors @ vector)) if int(i) not in positives][:20]
        for _ in range(repeats):
            positive = texts[rng.choice(positives)] if positives else None
            items.append(Item(q.question, positive, tuple(texts[i] for i in rng.sample(ranked, negatives))))
    return items


def build_network(folder: Path, layers: int):
    """The bi-encoder's first `layers` transformer layers with a linear score over mean pooling."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(folder), local_files_only=True)
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.score = torch.nn.Linear(bert.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.score(pooled).squeeze(-1)

    return CrossEncoder()


def torch_scores(network, tokenizer, question: str, candidates: list[str], max_pieces: int) -> np.ndarray:
    import torch

    feed = encode_pairs(tokenizer, question, candidates, max_pieces)
    with torch.no_grad():
        return network(*(torch.from_numpy(feed[name]) for name in INPUTS)).numpy()


def train(network, tokenizer, items: list[Item], recipe: Recipe, say) -> None:
    import torch

    torch.manual_seed(recipe.seed)
    optimiser = torch.optim.AdamW(network.parameters(), lr=recipe.lr, weight_decay=0.01)
    steps = max(1, recipe.epochs * ((len(items) + recipe.batch - 1) // recipe.batch))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    rng = random.Random(recipe.seed)
    network.train()
    step, started, running = 0, time.perf_counter(), []
    for _ in range(recipe.epochs):
        order = items[:]
        rng.shuffle(order)
        for at in range(0, len(order), recipe.batch):
            batch = order[at : at + recipe.batch]
            losses = []
            for item in batch:
                candidates = ([item.positive] if item.positive else []) + list(item.negatives)
                feed = encode_pairs(tokenizer, item.question, candidates, recipe.max_pieces)
                logits = network(*(torch.from_numpy(feed[name]) for name in INPUTS))
                logits = torch.cat([torch.zeros(1), logits])  # index 0: "no answer"
                target = torch.tensor(1 if item.positive else 0)
                losses.append(torch.nn.functional.cross_entropy(logits.unsqueeze(0), target.unsqueeze(0)))
            loss = torch.stack(losses).mean()
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            running.append(loss.item())
            if step % 50 == 0 or step == steps:
                rate = step / (time.perf_counter() - started)
                say(
                    f"step {step}/{steps}: loss {np.mean(running[-50:]):.3f}, {(steps - step) / rate / 60:.1f} min left"
                )
    network.eval()


def export(network, path: Path) -> None:
    """The network as ONNX (fp32), with dynamic batch and length."""
    trace_to_onnx(network, path, INPUTS, "score", {0: "texts"})


def quantise(source: Path, target: Path) -> None:
    """int8 weights for the matrix products and the word-piece table (onnxruntime dynamic quantisation)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"])


def run(recipe: Recipe, out: Path = MODELS, squad: Path = SQUAD, own: tuple[Path, ...] = OWN_SETS, say=print) -> dict:
    """Train, export and quantise; writes `reranker.onnx`, `reranker.json`, `tokenizer.json` into `out`."""
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    started = time.perf_counter()
    rng = random.Random(recipe.seed)
    base = model_path("minilm")
    items = squad_items(squad, recipe.squad_questions, recipe.negatives, rng) if recipe.squad_questions else []
    n_squad = len(items)
    items += own_items(own, SEED_CORPUS, recipe.negatives, recipe.own_repeats, rng, recipe.own_questions) if own else []
    say(
        f"{n_squad} SQuAD tuning questions, {len(items) - n_squad} items from the own sets ({', '.join(p.name for p in own)})"
    )
    tokenizer = pair_tokenizer(base, recipe.max_pieces)
    network = build_network(base, recipe.layers)
    train(network, tokenizer, items, recipe, say)
    out.mkdir(parents=True, exist_ok=True)
    fp32 = Path(tempfile.mkdtemp()) / "reranker.fp32.onnx"  # 4x the size; only the int8 file ships
    export(network, fp32)
    quantise(fp32, out / RERANKER_FILE)
    shutil.copyfile(base / "tokenizer.json", out / "tokenizer.json")
    seconds = time.perf_counter() - started
    info = {
        "sha256": file_hash(out / RERANKER_FILE),
        "bytes": (out / RERANKER_FILE).stat().st_size,
        "max_pieces": recipe.max_pieces,
        "recipe": asdict(recipe),
        "base_model": {"name": "all-MiniLM-L6-v2", "sha256": model_hash(base)},
        "trained_on": {
            "squad_tuning_questions": n_squad,
            "own_items": len(items) - n_squad,
            "own_sets": {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in own},
        },
        "seconds": round(seconds, 1),
        "command": "python -m eval train-reranker",
    }
    (out / RECIPE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    say(
        f"Wrote {out / RERANKER_FILE} ({info['bytes'] / 1e6:.1f} MB, sha256 {info['sha256'][:12]}…) in {seconds / 60:.1f} min."
    )
    return {"network": network, "tokenizer": tokenizer, "fp32": fp32, "info": info}
