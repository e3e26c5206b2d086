"""The sentence-transformers encoder, loaded on first use from the installed model package.

The model is chosen at index build (`index.models`: all-MiniLM-L6-v2 or all-mpnet-base-v2, both from
PyPI packages); nothing reaches for a model hub (HF_HUB_OFFLINE is set before sentence-transformers is
imported).

Besides one vector per text (mean pooling, L2 norm), `encode_tokens` keeps the model's contextual
vector of each content word piece, from the same forward pass: quote scoring compares the question's
word pieces with a sentence's one by one (see `qa.extract.piece_matrix`), which catches "kids" against
"children" where a single vector per sentence blurs it. A question keeps its asking word's piece as well
(`question_pieces`: "who", "when", "how", ...), whose contextual vector meets the answer's pieces.

`export_onnx` writes the same network as ONNX at index build, for encoding questions without torch
(`index.query_encoder`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.ingest import remembered_file_hash
from index.models import DEFAULT_MODEL, WEIGHTS_FILE, model_folder
from index.tokenize import STOP_WORDS

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # the exported network's inputs, in order

# BERT's special pieces (MiniLM) and RoBERTa-style ones (MPNet)
_SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "<s>", "</s>", "<pad>", "<unk>", "<mask>"})


def content_pieces(pieces: list[str]) -> list[int]:
    """Positions of the word pieces worth matching: not special, not punctuation, not a stop word."""
    return [
        i
        for i, piece in enumerate(pieces)
        if piece not in _SPECIAL and piece not in STOP_WORDS and any(c.isalnum() for c in piece)
    ]


# The words that say what kind of answer a question wants. "what", "which" and "why" are left out: they
# wanted nothing in particular (with them the eval set lost two questions, see `question_pieces`).
ASKING_WORDS = frozenset({"who", "whom", "whose", "when", "where", "how"})


def question_pieces(pieces: list[str], asking_weight: int = 0) -> list[int]:
    """`content_pieces`, and the question's asking word ("Who", "When", "How", "For how long") among its first
    three word pieces (of its last question, for a follow-up searched after the one before it), counted
    `asking_weight` times: the piece match is a mean over these rows.

    The model's contextual vector of "whom" in "Whom does the author recommend reading?" comes closest to
    the name in "start with @Tom_deWaal"; "how" in "How quickly could ...?" to "within less than a week"
    (the weight's measurements: `eval/EXPERIMENTS.md`, "The asking word").
    """
    keep = content_pieces(pieces)
    # A follow-up is searched after the question before it ("Who is blocking the road? Since when?"):
    # the last question's opening is what is asked now.
    ends = [i for i in range(len(pieces) - 1) if pieces[i] == "?" and pieces[i + 1] not in _SPECIAL]
    opening = ends[-1] + 1 if ends else 1  # 1: after [CLS]
    asking = next((i for i in range(opening, opening + 3) if i < len(pieces) and pieces[i] in ASKING_WORDS), None)
    return sorted(keep + [asking] * asking_weight) if asking is not None else keep


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)


def model_path(model: str = DEFAULT_MODEL) -> Path:
    return model_folder(model)


def model_hash(folder: Path | None = None) -> str:
    """sha256 of the model weights, so an index built with other weights is recognised."""
    return remembered_file_hash((folder or model_path()) / WEIGHTS_FILE)


class Encoder:
    """Turns texts into L2-normalised float32 vectors with model `model` (`index.models`); the network
    loads on the first call."""

    def __init__(self, folder: Path | None = None, batch_size: int = 64, model: str = DEFAULT_MODEL) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_key = model
        self.folder = folder or model_path(model)
        self.batch_size = batch_size
        self._model = None

    @property
    def model(self):
        if self._model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.folder), device="cpu", local_files_only=True)
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_tokens(
        self, texts: list[str], progress: bool = False, pick: Callable[[list[str]], list[int]] = content_pieces
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Per text, its vector (as `encode` gives it) and the unit vectors of the word pieces `pick` keeps
        (its content word pieces; a question's asking word too, `question_pieces`)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        outputs = self.model.encode(texts, batch_size=self.batch_size, output_value=None, show_progress_bar=progress)
        tokenizer = self.model.tokenizer
        vectors, tokens = [], []
        for out in outputs:
            vectors.append(out["sentence_embedding"].float().numpy())
            ids = out["input_ids"][out["attention_mask"].bool()].tolist()
            keep = pick(tokenizer.convert_ids_to_tokens(ids))
            tokens.append(unit_rows(out["token_embeddings"].float().numpy()[keep]))
        return unit_rows(np.stack(vectors)), tokens

    def export_onnx(self, path: Path) -> None:
        """Write the network (word pieces in, their contextual vectors out) as ONNX, for answering
        questions without torch (`index.query_encoder`). Pooling and normalising stay outside it."""
        network = _hidden_states(self.model[0].auto_model).eval()
        inputs = onnx_inputs(self.model[0].auto_model)
        trace_to_onnx(network, path, inputs, "hidden", {0: "texts", 1: "pieces"})


def trace_to_onnx(network, path: Path, inputs: tuple[str, ...], output: str, output_axes: dict[int, str]) -> None:
    """Trace `network` (word-piece ids, mask and, when it reads them, segment ids in) to ONNX at `path`,
    with any number of texts and pieces; `output_axes` names the output's dynamic axes."""
    import torch

    example = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "texts", 1: "pieces"}
    # The tracer warns about Python branches on shapes it follows; they do not vary with the input here.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            (example, example, torch.zeros_like(example))[: len(inputs)],
            str(path),
            dynamo=False,
            input_names=list(inputs),
            output_names=[output],
            dynamic_axes={**{name: axes for name in inputs}, output: output_axes},
            opset_version=17,
        )


def onnx_inputs(network) -> tuple[str, ...]:
    """The inputs the network reads: BERT (MiniLM) has segment ids, MPNet does not."""
    import inspect

    return ONNX_INPUTS if "token_type_ids" in inspect.signature(network.forward).parameters else ONNX_INPUTS[:2]


def _hidden_states(bert):
    """The transformer as a module that returns only its last hidden states (what ONNX export needs)."""
    import torch

    segments = "token_type_ids" in onnx_inputs(bert)

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {"token_type_ids": token_type_ids} if segments else {}
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    return HiddenStates()
