"""The reranker: a small cross-encoder that reads the question and a candidate span together.

The bi-encoder compares two vectors made apart; a cross-encoder reads "question [SEP] candidate" in
one pass, so "when did the blockade start" meets "Since December 12, 2022, … have blocked" through
attention between the two. It reads the spans the scorer shortlists (`Engine.score`,
`Settings.reread`). The candidate carries where it stands (`candidate_text`): the document's title,
its heading path and, for a post, its author, so a question about a section or about the author is
read against that structure.

The network is fine-tuned here (`python -m eval train-reranker`, see `eval/train_reranker.py`) and
ships as int8 ONNX in `qa/models/`, run by onnxruntime: no torch on the query path. Its score is a
logit against a fixed "no answer" logit of 0 (the training loss puts one beside every candidate list),
so a score below 0 says the reader found no answer there; abstention uses that.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from index.errors import IndexMismatch
from index.ingest import file_hash
from index.types import Document, is_record

MODELS = Path(__file__).with_name("models")
RERANKER_FILE = "reranker.onnx"
RECIPE_FILE = "reranker.json"  # hash, size and how the weights were trained
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
BATCH = 8  # pairs per run of the network


class RerankerMissing(IndexMismatch):
    """The reranker's files are absent or damaged."""


def candidate_text(doc: Document, context: str, sentence: str) -> str:
    """What the reranker reads for one sentence: where it stands, then the sentence.

    "A personal thread about #Karabakh (Rebecca Vincent (@rebecca_vincent)), post 1/14: Okay. …";
    a record of a collection is read under its title, which is its context already.
    """
    if is_record(doc.doc_id):
        where = context
    else:
        where = " › ".join(filter(None, (doc.title, context)))
        if doc.author:
            where = f"{where} ({doc.author})"
    return f"{where}: {sentence}" if where else sentence


def encode_pairs(tokenizer, question: str, candidates: list[str], max_pieces: int) -> dict[str, np.ndarray]:
    """Word-piece ids for "[CLS] question [SEP] candidate [SEP]", candidates cut to fit `max_pieces`,
    padded to the longest pair. The same function feeds training and answering."""
    encodings = tokenizer.encode_batch([(question, c) for c in candidates])
    width = max((len(e.ids) for e in encodings), default=0)
    out = {name: np.zeros((len(candidates), width), dtype=np.int64) for name in INPUTS}
    for row, e in enumerate(encodings):
        n = len(e.ids)
        out["input_ids"][row, :n] = e.ids
        out["attention_mask"][row, :n] = 1
        out["token_type_ids"][row, :n] = e.type_ids
    return out


def pair_tokenizer(folder: Path, max_pieces: int):
    """The model's own tokenizer.json, cutting the longer of question and candidate when a pair is too long."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_pieces, strategy="longest_first")
    tokenizer.no_padding()
    return tokenizer


class Reranker:
    """Scores (question, candidate) pairs with the shipped ONNX network; loads when constructed and
    refuses files whose sha256 is not the one recorded beside them."""

    def __init__(self, folder: Path = MODELS, threads: int = 0) -> None:
        import onnxruntime

        folder = Path(folder)
        recipe_path, onnx_path = folder / RECIPE_FILE, folder / RERANKER_FILE
        if not recipe_path.is_file() or not onnx_path.is_file():
            raise RerankerMissing(
                f"The reranker is missing from {folder}; rebuild it with `python -m eval train-reranker`."
            )
        self.recipe = json.loads(recipe_path.read_text(encoding="utf-8"))
        if file_hash(onnx_path) != self.recipe.get("sha256"):
            raise RerankerMissing(
                f"{onnx_path} is damaged (its sha256 is not the one in {RECIPE_FILE}); restore it from git "
                "or rebuild it with `python -m eval train-reranker`."
            )
        self.max_pieces = int(self.recipe["max_pieces"])
        self.tokenizer = pair_tokenizer(folder, self.max_pieces)
        options = onnxruntime.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        options.intra_op_num_threads = threads  # 0: one per core
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def score(self, question: str, candidates: list[str]) -> np.ndarray:
        """One logit per candidate (0 is the "no answer" level). Pairs run in batches of similar length,
        so that short ones are not padded to the longest (a third less time on the seeds)."""
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        feed = encode_pairs(self.tokenizer, question, candidates, self.max_pieces)
        lengths = feed["attention_mask"].sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        out = np.zeros(len(candidates), dtype=np.float32)
        for part in np.array_split(order, -(-len(order) // BATCH)):
            width = int(lengths[part].max())
            out[part] = self.session.run(None, {k: v[part, :width] for k, v in feed.items()})[0].reshape(-1)
        return out
