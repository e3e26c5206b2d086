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
from eval.training_data import navigation_fragment, title_question, visitor_question
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
    squad_questions: int = 2400  # answered: the answer's sentence against others of its article
    no_answer_questions: int = 500  # the same kind of question with the answer's sentence taken out
    visitor_share: float = 0.7  # share of questions rewritten the way visitors type (`visitor_question`)
    navigation_share: float = 0.25  # share of candidate lists given a navigation line as a negative
    own_repeats: int = 3  # each own question is seen this many times (with fresh negatives)
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


def squad_questions(folder: Path, seed: int) -> list[dict]:
    """SQuAD's tuning-half questions in one seeded order: the reranker trains on the first ones
    (`Recipe.squad_questions` + `Recipe.no_answer_questions`), the scorer on the rest (`eval.scorer`),
    so that the scorer sees the reranker's logits on questions it never read."""
    questions = [json.loads(line) for line in (folder / "questions.jsonl").open(encoding="utf-8")]
    questions = [q for q in questions if int(q["doc_id"].split("-")[1]) in TUNE_ARTICLES]
    random.Random(seed).shuffle(questions)
    return questions


def squad_paragraphs(folder: Path) -> dict[str, tuple[str, str, list[tuple[int, int]]]]:
    """Tuning-half paragraphs: id -> (title, text, sentence offsets)."""
    paragraphs = {}
    for line in (folder / "corpus.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if int(row["id"].split("-")[1]) in TUNE_ARTICLES:
            paragraphs[row["id"]] = (row["title"], row["text"], split_sentences(row["text"]))
    return paragraphs


def squad_items(folder: Path, recipe: Recipe, rng: random.Random, names: list[str]) -> list[Item]:
    """Questions of SQuAD's tuning half, most in a visitor's form: the sentence holding the answer against
    other sentences of its article (half from its own paragraph when it has them). Then as many again
    with that sentence taken out, target "no answer" (`Recipe.no_answer_questions`), and each article's
    title asked as a question, answered by its first sentence."""
    paragraphs = squad_paragraphs(folder)
    by_article: dict[str, list[str]] = {}
    for pid in paragraphs:
        by_article.setdefault(pid.rsplit("-", 1)[0], []).append(pid)

    def sentence(pid: str, s: int, e: int) -> str:
        title, text, _ = paragraphs[pid]
        return candidate_text_record(title, text[s:e])

    questions = squad_questions(folder, recipe.seed)
    wanted = recipe.squad_questions + recipe.no_answer_questions
    items = []
    for number, q in enumerate(questions[:wanted]):
        _, text, spans = paragraphs[q["doc_id"]]
        at, length = q["answer_starts"][0], len(q["answers"][0])
        holding = [i for i, (s, e) in enumerate(spans) if s <= at and at + length <= e]
        if not holding:
            continue  # an answer across two sentences teaches nothing clear
        own = [sentence(q["doc_id"], *spans[i]) for i in range(len(spans)) if i != holding[0]]
        others = [
            sentence(pid, s, e)
            for pid in by_article[q["doc_id"].rsplit("-", 1)[0]]
            if pid != q["doc_id"]
            for s, e in paragraphs[pid][2]
        ]
        picked = rng.sample(own, min(len(own), recipe.negatives // 2))
        picked += rng.sample(others, min(len(others), recipe.negatives - len(picked)))
        if rng.random() < recipe.navigation_share:
            picked[-1] = navigation_fragment(names, rng)
        asked = visitor_question(q["question"], rng, 1 - recipe.visitor_share)
        positive = sentence(q["doc_id"], *spans[holding[0]]) if number < recipe.squad_questions else None
        items.append(Item(asked, positive, tuple(picked)))
    for article, pids in by_article.items():
        title, text, spans = paragraphs[pids[0]]
        first = sentence(pids[0], *spans[0])
        strangers = [
            sentence(p, s, e)
            for a, ps in by_article.items()
            if a != article
            for p in ps[:2]
            for s, e in paragraphs[p][2]
        ]
        for _ in range(4):
            negatives = rng.sample(strangers, min(len(strangers), recipe.negatives - 1))
            negatives.append(navigation_fragment(names, rng))
            items.append(Item(title_question(title, rng), first, tuple(negatives)))
    return items


def candidate_text_record(title: str, sentence: str) -> str:
    """A SQuAD sentence as the index presents a record's sentence: under its article's title."""
    from index.types import Document

    return candidate_text(Document("squad#p", title, None, None, None, None, ""), title, sentence)


def own_items(sets: tuple[Path, ...], corpus: Path, recipe: Recipe, rng: random.Random, names: list[str]) -> list[Item]:
    """The own tuning sets over the seed corpus, most in a visitor's form; negatives are drawn from the 20
    sentences MiniLM ranks highest for the question (the ones the reranker will have to tell apart), the
    evidence's excluded. Then each section heading asked as a question, answered by its first sentence."""
    from index.embed import Encoder

    documents, _ = read_corpus(corpus)
    seg = segment(documents)
    docs = {d.doc_id: d for d in documents}
    texts = [
        candidate_text(docs[s.doc_id], seg.contexts[s.passage], docs[s.doc_id].text[s.start : s.end])
        for s in seg.sentences
    ]
    questions = [q for path in sets for q in load_questions(path) if q.kind != "followup"]
    questions = questions[: recipe.own_questions] if recipe.own_questions else questions
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
        for _ in range(recipe.own_repeats):
            positive = texts[rng.choice(positives)] if positives else None
            negatives = [texts[i] for i in rng.sample(ranked, recipe.negatives)]
            if rng.random() < recipe.navigation_share:
                negatives[-1] = navigation_fragment(names, rng)
            asked = visitor_question(q.question, rng, 1 - recipe.visitor_share)
            items.append(Item(asked, positive, tuple(negatives)))
    headings: dict[str, int] = {}
    for i, s in enumerate(seg.sentences):
        heading = seg.contexts[s.passage].split(" › ")[-1]
        if heading and not heading.startswith("post "):
            headings.setdefault(heading, i)
    for heading, first in headings.items():
        others = [i for i, s in enumerate(seg.sentences) if seg.contexts[s.passage].split(" › ")[-1] != heading]
        negatives = [texts[i] for i in rng.sample(others, recipe.negatives - 1)] + [navigation_fragment(names, rng)]
        items.append(Item(title_question(heading, rng), texts[first], tuple(negatives)))
    return items


def heading_names(corpus: Path) -> list[str]:
    """The section headings of a corpus: names for navigation lines."""
    documents, _ = read_corpus(corpus)
    seg = segment(documents)
    return sorted({c.split(" › ")[-1] for c in seg.contexts if c and not c.split(" › ")[-1].startswith("post ")})


def build_network(folder: Path, layers: int):
    """The bi-encoder's first `layers` transformer layers with a linear score over mean pooling."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(folder), local_files_only=True)
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    # Plain attention exports as plain ONNX operators: 20% faster under onnxruntime than the fused kernel's
    # export (its masking runs as Where/IsNaN over every score), with the same logits (eval/EXPERIMENTS.md).
    bert.set_attn_implementation("eager")

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


def fit_steps(network, examples: list, loss_of, epochs: int, batch: int, lr: float, seed: int, say, name: str):
    """Train `network` with AdamW over `epochs` shuffled passes of `examples`, `batch` at a time, the
    learning rate warming up over the first 5% of steps and falling linearly to 0; `loss_of(example)` is
    one example's loss tensor. Returns every step's loss."""
    import torch

    torch.manual_seed(seed)
    optimiser = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=0.01)
    steps = max(1, epochs * -(-len(examples) // batch))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    rng = random.Random(seed)
    network.train()
    step, started, running = 0, time.perf_counter(), []
    for _ in range(epochs):
        order = examples[:]
        rng.shuffle(order)
        for at in range(0, len(order), batch):
            loss = torch.stack([loss_of(example) for example in order[at : at + batch]]).mean()
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            running.append(loss.item())
            if step % 50 == 0 or step == steps:
                rate = step / (time.perf_counter() - started)
                left = (steps - step) / rate / 60
                say(f"step {step}/{steps}: {name} {np.mean(running[-50:]):.3f}, {left:.1f} min left")
    network.eval()
    return running


def train(network, tokenizer, items: list[Item], recipe: Recipe, say) -> None:
    """The listwise loss over [a fixed "no answer" logit 0, the candidates' logits] (module docstring)."""
    import torch

    def loss_of(item: Item):
        candidates = ([item.positive] if item.positive else []) + list(item.negatives)
        feed = encode_pairs(tokenizer, item.question, candidates, recipe.max_pieces)
        logits = network(*(torch.from_numpy(feed[name]) for name in INPUTS))
        logits = torch.cat([torch.zeros(1), logits])  # index 0: "no answer"
        target = torch.tensor(1 if item.positive else 0)
        return torch.nn.functional.cross_entropy(logits.unsqueeze(0), target.unsqueeze(0))

    fit_steps(network, items, loss_of, recipe.epochs, recipe.batch, recipe.lr, recipe.seed, say, "loss")


def export(network, path: Path) -> None:
    """The network as ONNX (fp32), with dynamic batch and length."""
    trace_to_onnx(network, path, INPUTS, "score", {0: "texts"})


def quantise(source: Path, target: Path) -> None:
    """int8 weights for the matrix products and the word-piece table (onnxruntime dynamic quantisation)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"])


def training_items(recipe: Recipe, squad: Path, own: tuple[Path, ...], say=print) -> tuple[list[Item], int, str]:
    """The recipe's items (SQuAD's first), how many are SQuAD's, and their sha256."""
    rng = random.Random(recipe.seed)
    names = sorted({title for title, _, _ in squad_paragraphs(squad).values()})  # tuning-half titles only
    if own:
        names += heading_names(SEED_CORPUS)
    items = squad_items(squad, recipe, rng, names) if recipe.squad_questions else []
    n_squad = len(items)
    items += own_items(own, SEED_CORPUS, recipe, rng, names) if own else []
    say(
        f"{n_squad} SQuAD tuning items, {len(items) - n_squad} items from the own sets ({', '.join(p.name for p in own)})"
    )
    digest = hashlib.sha256("\n".join(f"{i.question}\t{i.positive}\t{i.negatives}" for i in items).encode()).hexdigest()
    return items, n_squad, digest


def network_from_onnx(path: Path):
    """The torch network of a shipped int8 reranker: its weights read back from the ONNX file (int8 times
    scale), each matrix found by the layer its product's output is named after. Exported again, it gives
    the same logits (tested), so a shipped model can be taught from or re-exported without its training."""
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    stored = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def weights(name: str) -> np.ndarray:
        scale, zero = stored[f"{name}_scale"], stored[f"{name}_zero_point"].astype(np.float32)
        return (stored[f"{name}_quantized"].astype(np.float32) - zero) * scale

    found = {}
    for node in graph.node:
        if node.op_type == "MatMulInteger":  # output "/bert/encoder/layer.0/attention/self/query/MatMul_…"
            module = ".".join(node.output[0].strip("/").split("/")[:-1])
            found[f"{module}.weight"] = weights(node.input[1].removesuffix("_quantized")).T
    layers = 1 + max(int(n.split(".")[3]) for n in found if n.startswith("bert.encoder.layer."))
    network = build_network(model_path("minilm"), layers)
    state = network.state_dict()
    for name in state:
        if name in stored:
            found[name] = stored[name]
        elif f"{name}_quantized" in stored:
            found[name] = weights(name)
    found["score.weight"] = weights("score.weight_Transposed").T
    unused = {n for n in state if n not in found and not n.startswith("bert.pooler.")}
    if unused:
        raise ValueError(f"{path} lacks weights for {sorted(unused)[:3]}")
    network.load_state_dict({**state, **{n: torch.from_numpy(np.array(v, dtype=np.float32)) for n, v in found.items()}})
    return network.eval()


def reexport(folder: Path = MODELS, say=print) -> dict:
    """Export the int8 reranker in `folder` again as this module exports now (`build_network`), from its
    own weights (`network_from_onnx`), and record the new file's hash in its recipe and in the scorer's."""
    from qa.scorer import SCORER_FILE

    recipe_path, onnx_path = folder / RECIPE_FILE, folder / RERANKER_FILE
    info = json.loads(recipe_path.read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp())
    export(network_from_onnx(onnx_path), work / "reranker.fp32.onnx")
    quantise(work / "reranker.fp32.onnx", work / RERANKER_FILE)
    shutil.copyfile(work / RERANKER_FILE, onnx_path)
    shutil.rmtree(work, ignore_errors=True)
    before = info["sha256"]
    info.update(sha256=file_hash(onnx_path), bytes=onnx_path.stat().st_size)
    info["exported_again"] = {"from_sha256": before, "command": "python -m eval reexport-reranker"}
    recipe_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    scorer_path = folder / SCORER_FILE.name
    if scorer_path.is_file():
        scorer = json.loads(scorer_path.read_text(encoding="utf-8"))
        if scorer["recipe"].get("reranker_sha256") == before:  # the same weights: the scorer still fits them
            scorer["recipe"]["reranker_sha256"] = info["sha256"]
            scorer_path.write_text(json.dumps(scorer, indent=2) + "\n", encoding="utf-8")
    say(f"Wrote {onnx_path} again ({info['bytes'] / 1e6:.1f} MB, sha256 {info['sha256'][:12]}…, was {before[:12]}…).")
    return info


def run(recipe: Recipe, out: Path = MODELS, squad: Path = SQUAD, own: tuple[Path, ...] = OWN_SETS, say=print) -> dict:
    """Train, export and quantise; writes `reranker.onnx`, `reranker.json`, `tokenizer.json` into `out`."""
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    started = time.perf_counter()
    base = model_path("minilm")
    items, n_squad, digest = training_items(recipe, squad, own, say)
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
            "items_sha256": digest,
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
