"""Where the corpus and the index live by default, the one function that reads the environment, and the check
of a count given on a command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_CORPUS = Path("corpus")
DEFAULT_INDEX = Path("var/index")


def env_paths(environ: dict[str, str] | None = None) -> tuple[Path | None, Path]:
    """(corpus folder or None when QA_CORPUS is unset, index folder), from the environment."""
    environ = os.environ if environ is None else environ
    corpus = environ.get("QA_CORPUS")
    return (Path(corpus) if corpus else None, Path(environ.get("QA_INDEX") or DEFAULT_INDEX))


def at_least_one(text: str) -> int:
    """A count given on a command line (`qa ask -k`, `eval --limit`): a whole number of 1 or more. An argparse
    type, so a bad value is refused in one line that names the option."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)
