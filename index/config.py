"""Where the corpus and the index live by default, and the one function that reads the environment."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CORPUS = Path("corpus")
DEFAULT_INDEX = Path("var/index")


def env_paths(environ: dict[str, str] | None = None) -> tuple[Path | None, Path]:
    """(corpus folder or None when QA_CORPUS is unset, index folder), from the environment."""
    environ = os.environ if environ is None else environ
    corpus = environ.get("QA_CORPUS")
    return (Path(corpus) if corpus else None, Path(environ.get("QA_INDEX") or DEFAULT_INDEX))
