"""Answering settings: built once at the entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from index.config import DEFAULT_INDEX, env_paths
from qa.reranker import MODELS

MODES = ("bm25", "dense", "hybrid")


@dataclass(frozen=True)
class Settings:
    index: Path = DEFAULT_INDEX
    corpus: Path | None = None  # None: the corpus folder recorded in the index manifest
    mode: str = "hybrid"
    quotes: int = 3  # at most this many quotes per answer
    candidates: int = 30  # hits each retriever contributes to fusion
    passages: int = 12  # best fused passages whose spans are candidates (20 no better on the tuning sets)
    rrf_k: int = 60
    # A question word the corpus lacks counts through a WordNet synonym (`index.wordnet`) at this much of its
    # weight in BM25 and in the share of the question BM25 can see (chosen on the own set).
    synonym_weight: float = 0.8
    # The question's asking word ("who", "when", "how") counts as this many word pieces in the piece match
    # (`index.embed.question_pieces`; chosen on the own set and SQuAD's tuning half); 0 leaves it out.
    asking_weight: int = 3
    # Candidates the reranker reads, picked by `Scorer.shortlist`: 8 costs two thirds of 12's time, with
    # the same refusals on the tuning sets and Hit@1/Hit@3 within a question of 12's (eval/EXPERIMENTS.md).
    reread: int = 8
    max_question_chars: int = 1000
    # The folder of the reranker and the scorer (`qa/models/`); another one is for comparing trained models.
    models: Path = MODELS
    # Threads each network (question encoder, reranker) runs on; 0: one per core. A server running several
    # engine processes gives each its share of the cores (`ui.engines`).
    threads: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if min(self.quotes, self.candidates, self.passages, self.reread) < 1:
            raise ValueError("quotes, candidates, passages and reread must be at least 1")
        if self.asking_weight < 0:
            raise ValueError("asking_weight must not be negative")
        if not 0 <= self.synonym_weight <= 1:
            raise ValueError("synonym_weight must be between 0 and 1")

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        corpus, index = env_paths()
        values = {"index": index, "corpus": corpus}
        values.update((k, v) for k, v in overrides.items() if v is not None)
        return cls(**values)
