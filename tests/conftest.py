"""Shared fixtures: the real model (loaded once), the real seed corpus, indexes in temp folders."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
THREAD = "000_1dd4618f7b8300fb.txt"
ARTICLE = "004_672af6158f85d9ce.txt"


@pytest.fixture(scope="session")
def encoder():
    from index.embed import Encoder

    return Encoder()


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    """A copy of the seed corpus, so tests that check staleness never touch the project's own."""
    folder = tmp_path_factory.mktemp("corpus")
    for path in SEED_CORPUS.iterdir():
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def seed_index(seed_corpus, encoder, tmp_path_factory) -> Path:
    from index.build import build

    out = tmp_path_factory.mktemp("index")
    build(seed_corpus, out, encoder)
    return out


@pytest.fixture(scope="session")
def engine(seed_index):
    """The engine as the product loads it: questions encoded by the network the build exported."""
    from qa.engine import Engine
    from qa.settings import Settings

    return Engine.load(Settings(index=seed_index))


def write_corpus(folder: Path, files: dict[str, str | bytes], sources: dict | None = None) -> Path:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    if sources is not None:
        (folder / "sources.json").write_text(json.dumps(sources), encoding="utf-8")
    return folder


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(index: Path, *options: str, port: int | None = None):
    """`python -m ui` on a free port over `index`, as a user starts it: yields (its URL, the process),
    once it answers /api/health. What it prints goes to the file `process.log` names."""
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request

    port = port or free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, "-m", "ui", "--port", str(port), "--index", str(index), "--no-build", *options]
    log = Path(tempfile.mkstemp(prefix="qa-server-", suffix=".log")[1])
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    process.log = log
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "api/health", timeout=2):
                break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            if time.time() > deadline:
                process.kill()
                raise RuntimeError("the app did not start within 120 s") from None
            time.sleep(0.3)
    try:
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def chromium():
    """Debian's Chromium, headless, through ChromeDriver, with nothing reaching the network on its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path("/usr/bin/chromium").exists(), "Chromium is missing: run scripts/install_browser.sh (make test does)"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
