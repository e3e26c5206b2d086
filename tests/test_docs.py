"""The README and docs/: short enough to read, and every command they show exists as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache

import pytest

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def commands(page) -> list[str]:
    """The `make …` and `python -m …` commands in a page's fenced blocks, comments and continuations undone."""
    found = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s{2,}#", line)[0].strip()
            if line.startswith("make "):
                found.append(line)
            elif "python -m " in line:
                found.append(line[line.index("python -m ") :])
    return found


SHOWN = sorted({(page.name, command) for page in PAGES for command in commands(page)})


@cache
def help_text(module: str, sub: str | None) -> str:
    argv = [sys.executable, "-m", module, *([sub] if sub else []), "--help"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(argv[1:])} failed: {done.stderr[-500:]}"
    return done.stdout


def test_the_readme_is_short_and_points_to_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 250
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme, f"the README does not point to docs/{page.name}"
    assert len(SHOWN) >= 10  # the pages do show commands


@pytest.mark.parametrize("page, command", SHOWN, ids=[f"{p}: {c}" for p, c in SHOWN])
def test_every_command_shown_exists_with_its_options(page, command):
    words = shlex.split(command)
    if words[0] == "make":
        targets = re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
        assert set(words[1:]) <= set(targets), f"{command}: no such make target"
        return
    module, rest = words[2], words[3:]
    sub = rest[0] if rest and not rest[0].startswith("-") and module in ("qa", "index", "eval") else None
    shown = help_text(module, sub)
    assert "usage:" in shown
    for option in (w.split("=")[0] for w in rest if w.startswith("--")):
        assert option in shown, f"{command}: {option} is not an option of python -m {module} {sub or ''}"
