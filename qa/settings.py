"""Answering settings: built once at the entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from index.config import DEFAULT_INDEX, env_paths
from qa.extract import SpanRules, SpanWeights

MODES = ("bm25", "dense", "hybrid")


@dataclass(frozen=True)
class Settings:
    index: Path = DEFAULT_INDEX
    corpus: Path | None = None  # None: the corpus folder recorded in the index manifest
    mode: str = "hybrid"
    quotes: int = 3  # at most this many quotes per answer
    candidates: int = 30  # hits each retriever contributes to fusion
    rerank: int = 20  # best fused passages searched for a quote (chosen on SQuAD's tuning half)
    rrf_k: int = 60
    # Abstain when the confidence, the best sentence's cosine with the question plus `reader_confidence`
    # times the reranker's logit for the best span, is below this (`make eval` sweeps it).
    threshold: float = 0.4
    reader_confidence: float = 0.1
    # A question sharing at most this share of its words (weighted as BM25 weighs them, synonyms counting)
    # with the corpus is refused unless a sentence reaches `strong_cosine`, whatever the threshold: "Why
    # is the sky blue?" (no word in the corpus) reaches 0.31. No answerable question of the own set or
    # the holdout shares less than 0.32 of its words with the corpus.
    foreign_share: float = 0.2
    strong_cosine: float = 0.4
    # A synonym from WordNet (`index.wordnet`) counts this much of the question word it stands for, in
    # BM25 and in the share of the question BM25 can see (chosen on the own set).
    synonym_weight: float = 0.8
    # GloVe vectors (`qa.word_vectors`): None looks in var/glove and goes without when there are none.
    word_vectors: Path | None = None
    # A related word counts from this cosine up (`qa.extract.related_credit`): "kids" / "children" 0.76,
    # "bombarded" / "shelled" 0.69 count; "sky" / "airport" 0.39 does not.
    related_floor: float = 0.4
    # The question's asking word ("who", "when", "how") counts as this many word pieces in the piece
    # match (`index.embed.question_pieces`); 0 leaves it out.
    asking_weight: int = 3
    # The best spans by the mixed score that the reranker reads (`Engine.reread`), and how much its
    # logit counts beside that score.
    reread: int = 10
    reader_weight: float = 0.5
    # A quote's own best sentence must reach this cosine to be shown; -1 turns it off: the reranker judges
    # what is shown, and a floor of 0.1 hid answers it found (visitors' tuning set top 1 +3).
    quote_floor: float = -1.0
    quote_margin: float = (
        2.0  # further quotes must score within this of the best one (2: the reranker's logits widen the scores)
    )
    max_question_chars: int = 1000
    # Threads each network (question encoder, reranker) runs on; 0: one per core. A server running several
    # engine processes gives each its share of the cores (`ui.engines`).
    threads: int = 0
    weights: SpanWeights = field(default_factory=SpanWeights)
    rules: SpanRules = field(default_factory=SpanRules)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.quotes < 1 or self.candidates < 1 or self.rerank < 1:
            raise ValueError("quotes, candidates and rerank must be at least 1")
        if self.asking_weight < 0:
            raise ValueError("asking_weight must not be negative")
        if not 0 <= self.related_floor < 1:
            raise ValueError("related_floor must be at least 0 and below 1")
        if not 0 <= self.synonym_weight <= 1:
            raise ValueError("synonym_weight must be between 0 and 1")

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        corpus, index = env_paths()
        values = {"index": index, "corpus": corpus}
        values.update((k, v) for k, v in overrides.items() if v is not None)
        return cls(**values)
