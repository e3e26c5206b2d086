"""The question side of the model without torch: the same network, exported to ONNX at index build.

Answering a question needs one forward pass over a dozen word pieces. Through sentence-transformers
that means importing torch (6–9 s on the 2-core machine) and 12–16 ms a question; the same network
exported to ONNX (`Encoder.export_onnx`) and run by onnxruntime, with the model's own `tokenizer.json`
read by the `tokenizers` package, loads in about 0.3 s and takes 3–4 ms a question. Its vectors are
the torch encoder's (mean pooling over the word pieces, L2 norm; cosine at least 0.9999998 on the 113
eval questions, > 0.9999 asserted in `tests/test_index_build.py`), and so are its content word-piece
vectors.

The index build writes the exported network into the build folder (`QUERY_MODEL`), so it always
belongs to the weights the index was embedded with (the manifest's model hash is checked on load).
An index without one (built where the export failed) is answered with the torch encoder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.embed import ONNX_INPUTS, Encoder, content_pieces, model_path, unit_rows
from index.errors import IndexMismatch
from index.models import DEFAULT_MODEL

QUERY_MODEL = "query_model.onnx"
DEFAULT_MAX_PIECES = 256  # all-MiniLM-L6-v2's max_seq_length, when its config does not say


def max_pieces(folder: Path) -> int:
    """How many word pieces the model reads (longer texts are cut), as sentence-transformers reads it."""
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length", DEFAULT_MAX_PIECES))
    return DEFAULT_MAX_PIECES


class OnnxEncoder:
    """`Encoder`'s `encode` and `encode_tokens` over the exported network; loads when constructed."""

    def __init__(self, onnx_file: Path, folder: Path | None = None, batch_size: int = 64, threads: int = 0) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.folder = folder or model_path(DEFAULT_MODEL)
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_pieces(self.folder))
        self.tokenizer.no_padding()  # the file pads to 128 pieces; a batch is padded to its longest here
        options = onnxruntime.SessionOptions()
        # Idle threads sleep instead of spinning: between questions the two cores belong to the web server.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        options.intra_op_num_threads = threads  # 0: one per core
        try:
            self.session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / NoSuchFile types
            raise IndexMismatch(f"{onnx_file.name} cannot be loaded: {exc.__class__.__name__}") from exc
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self.inputs = [i.name for i in self.session.get_inputs()]  # MPNet has no segment ids

    def _forward(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        feed = {k: v for k, v in zip(ONNX_INPUTS, (ids, mask, np.zeros_like(ids)), strict=True) if k in self.inputs}
        hidden = self.session.run(None, feed)[0]
        return hidden, mask, [e.tokens for e in encodings]

    def encode_tokens(
        self, texts: list[str], progress: bool = False, pick: Callable[[list[str]], list[int]] = content_pieces
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Per text, its unit vector and the unit vectors of the word pieces `pick` keeps (`Encoder.encode_tokens`)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        vectors, pieces = [], []
        for start in range(0, len(texts), self.batch_size):
            hidden, mask, tokens = self._forward(texts[start : start + self.batch_size])
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            vectors.append(summed / mask.sum(axis=1, keepdims=True))
            for row, names in enumerate(tokens):
                pieces.append(unit_rows(hidden[row, : len(names)][pick(names)]))
        return unit_rows(np.concatenate(vectors)), pieces

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self.encode_tokens(texts)[0]


def manifest_model(manifest: dict) -> str:
    """The model an index was built with (`index.models`); indexes from before the choice used MiniLM."""
    return manifest["model"].get("key", "minilm")


def query_encoder(build_folder: Path, manifest: dict, threads: int = 0):
    """The encoder for questions to an index: the build's exported network when it has one (run on
    `threads` threads, 0: one per core), else torch."""
    model = manifest_model(manifest)
    exported = manifest.get("query_model")
    if not exported:
        return Encoder(model=model)
    return OnnxEncoder(build_folder / exported["file"], folder=model_path(model), threads=threads)
