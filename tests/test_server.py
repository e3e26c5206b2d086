"""Serving: the engine from many threads, the JSON API over real HTTP, reloads, shedding, the load test."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from index.build import build
from index.store import POINTER, live_folder
from qa.engine import Engine
from qa.settings import Settings
from tests.conftest import ROOT, SEED_CORPUS, serve, write_corpus

QUESTIONS = [
    "when did the blockade start",
    "who is rebecca vincent",
    "how many children are stranded in armenia",
    "what about the gas",
    "what should be done about it",
    "Why is the sky blue?",
    "who is blocking the lachin corridor",
    "what does the article propose",
]


def without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def test_the_engine_answers_from_many_threads_as_it_does_one_question_at_a_time(seed_index):
    engine = Engine.load(Settings(index=seed_index))
    alone = [without_timings(engine.answer(q).to_json()) for q in QUESTIONS]
    engine.forget()  # nothing remembered from the first round: the threads compute everything again
    with ThreadPoolExecutor(8) as threads:
        together = list(threads.map(lambda q: without_timings(engine.answer(q).to_json()), QUESTIONS * 4))
    assert together == alone * 4


@pytest.fixture(scope="module")
def live(tmp_path_factory, encoder):
    """A server over an index of its own (the reload test rebuilds it), with two engine processes."""
    corpus = tmp_path_factory.mktemp("served-corpus")
    for path in SEED_CORPUS.iterdir():
        shutil.copy(path, corpus / path.name)
    out = tmp_path_factory.mktemp("served-index")
    build(corpus, out, encoder)
    with serve(out, "--workers", "2") as (url, process):
        yield url, out, corpus, process


def test_api_ask_returns_what_qa_ask_json_prints(live):
    url, out, _, _ = live
    question = "How many days was Nagorno-Karabakh shelled in 2020?"
    response = httpx.post(url + "api/ask", json={"question": question, "k": 2})
    assert response.status_code == 200
    cli = subprocess.run(
        [sys.executable, "-m", "qa", "ask", question, "--json", "-k", "2", "--index", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert without_timings(response.json()) == without_timings(json.loads(cli.stdout))
    assert "44 days" in response.json()["quotes"][0]["text"] and len(response.json()["quotes"]) <= 2
    follow = httpx.post(url + "api/ask", json={"question": "How long was it shelled?", "previous": question})
    assert follow.json()["searched"].startswith("How many days was Nagorno-Karabakh shelled")


@pytest.mark.parametrize(
    "body, status, sentence",
    [
        (
            b'{"question": ',
            422,
            'The request body must be a JSON object like {"question": "When did the blockade start?"}',
        ),
        (
            b'{"previous": "x"}',
            422,
            'The request body must be a JSON object like {"question": "When did the blockade start?"} (question: field required).',
        ),
        (b'{"question": "who", "k": 0}', 422, None),
        (b'{"question": "   "}', 400, "Please type a question."),
        (json.dumps({"question": "why " * 400}).encode(), 400, None),
        (
            json.dumps({"question": "x" * 17000}).encode(),
            413,
            "The request body is over 16 kB; send one question of at most 1000 characters.",
        ),
    ],
)
def test_bad_requests_get_a_status_and_one_sentence(live, body, status, sentence):
    response = httpx.post(live[0] + "api/ask", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    said = response.json()["error"]
    assert "\n" not in said and "Traceback" not in said and said.endswith(".")
    if sentence:
        assert said.startswith(sentence)
    if b"why why" in body:  # the sentence the command line says for the same question
        cli = subprocess.run(
            [sys.executable, "-m", "qa", "ask", "why " * 400, "--index", str(live[1])],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            timeout=120,
        )
        assert cli.stdout.strip() == f"error: {said}"


def test_a_body_streamed_without_a_length_is_cut_off_at_16_kB(live):
    chunks = (b'{"question": "' + b"x" * 4096 for _ in range(6))
    response = httpx.post(live[0] + "api/ask", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_health_says_which_index_answers(live):
    url, out, _, _ = live
    health = httpx.get(url + "api/health").json()
    assert health["ok"] and not health["stale"] and health["load_error"] is None
    assert health["build"] == live_folder(out).name
    assert (health["documents"], health["model"]) == (2, "minilm") and health["passages"] > 50
    assert len(health["workers"]) == 2 and all(w["rss_mb"] > 50 for w in health["workers"])
    spec = httpx.get(url + "openapi.json").json()
    assert {"/api/ask", "/api/health", "/api/reload"} <= set(spec["paths"])


def running(pid: int) -> bool:
    """Process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def wait_for(check, seconds: float = 20.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("not within the time allowed")


def test_a_rebuild_is_served_without_a_restart_and_a_damaged_build_is_refused(live, encoder):
    url, out, corpus, process = live
    before = httpx.get(url + "api/health").json()["build"]
    write_corpus(corpus, {"deserts.txt": "The Atacama is the driest desert on Earth, with almost no rain."})
    build(corpus, out, encoder)
    new = live_folder(out).name
    assert new != before
    # Questions keep coming while the engines switch: none is dropped.
    with ThreadPoolExecutor(4) as threads:
        asked = threads.map(lambda _: httpx.post(url + "api/ask", json={"question": QUESTIONS[0]}), range(12))
        wait_for(lambda: httpx.get(url + "api/health").json()["build"] == new)
        assert all(r.status_code == 200 for r in asked)
    answer = httpx.post(url + "api/ask", json={"question": "Which desert is the driest on Earth?"}).json()
    assert answer["quotes"][0]["doc_id"] == "deserts.txt"

    # A build that cannot be loaded: the old one keeps answering, and health says why.
    broken = out / "build-broken"
    shutil.copytree(live_folder(out), broken)
    (broken / "passages.vectors.npy").write_bytes(b"not an array")
    (out / POINTER).write_text("build-broken", encoding="utf-8")
    reloaded = httpx.post(url + "api/reload", timeout=60).json()
    assert reloaded["build"] == new and reloaded["current"] == "build-broken"
    assert "damaged" in reloaded["load_error"] and "rebuild it with" in reloaded["load_error"]
    assert httpx.get(url + "api/health").json()["load_error"] == reloaded["load_error"]
    answer = httpx.post(url + "api/ask", json={"question": "Which desert is the driest on Earth?"}).json()
    assert answer["quotes"][0]["doc_id"] == "deserts.txt"
    log = process.log.read_text()
    assert "Cannot load the index build build-broken" in log and f"answering from {new}" in log
    (out / POINTER).write_text(new, encoding="utf-8")
    shutil.rmtree(broken)


def test_the_load_command_drives_the_server_and_its_figures_add_up(live, tmp_path):
    url = live[0]
    figures = tmp_path / "load.json"
    command = [sys.executable, "-m", "eval", "load", "--url", url, "--clients", "3", "--questions", "4"]
    done = subprocess.run([*command, "--json", str(figures)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    closed = json.loads(figures.read_text())
    assert closed["sent"] == 12 == closed["answered"] + sum(closed["errors"].values())
    assert closed["p50_ms"] <= closed["p95_ms"] <= closed["max_ms"]
    assert closed["answered_per_s"] == pytest.approx(closed["answered"] / closed["seconds"], rel=0.02)
    assert "closed loop, 3 clients × 4 questions over http" in done.stdout

    command = [sys.executable, "-m", "eval", "load", "--url", url, "--rate", "4", "--seconds", "1.5", "--api", "gradio"]
    done = subprocess.run([*command, "--json", str(figures)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    opened = json.loads(figures.read_text())
    assert opened["sent"] == 6 and opened["answered"] == 6, done.stdout
    assert opened["seconds"] >= 1.25  # sent on a schedule, not as fast as answered

    refused = subprocess.run(
        [sys.executable, "-m", "eval", "load", "--url", "http://192.0.2.1:80", "--rate", "1", "--seconds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: The load test drives servers on this machine only; 192.0.2.1 is not."


def test_questions_that_would_wait_too_long_are_shed_with_503_and_retry_after_and_then_served_again(seed_index):
    # Without the cache, each of the questions asked twice is computed: 16 at once for one engine process.
    with serve(seed_index, "--workers", "1", "--max-wait", "0.2", "--no-cache") as (url, _):
        with ThreadPoolExecutor(16) as threads:
            asked = list(
                threads.map(lambda q: httpx.post(url + "api/ask", json={"question": q}, timeout=60), QUESTIONS * 2)
            )
        shed = [r for r in asked if r.status_code == 503]
        assert shed and all(r.headers["retry-after"].isdigit() and int(r.headers["retry-after"]) >= 1 for r in shed)
        assert shed[0].json() == {"error": "The server is busy; please ask again in a moment."}
        assert all(r.status_code in (200, 503) for r in asked) and any(r.status_code == 200 for r in asked)
        assert httpx.post(url + "api/ask", json={"question": QUESTIONS[0]}).status_code == 200
        health = httpx.get(url + "api/health").json()
        assert health["waiting"] == 0 and health["cached"] is None and health["service_ms"] > 0


def test_a_server_killed_with_sigkill_leaves_nothing_behind_and_starts_again(seed_index):
    with serve(seed_index, "--workers", "2") as (url, process):
        engines = [w["pid"] for w in httpx.get(url + "api/health").json()["workers"]]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        wait_for(lambda: not any(running(pid) for pid in engines), 10)
        port = int(url.rsplit(":", 1)[1].strip("/"))
    with serve(seed_index, port=port) as (again, _):
        assert httpx.post(again + "api/ask", json={"question": QUESTIONS[2]}).json()["quotes"]


def test_an_internal_error_is_a_500_with_one_sentence_and_a_logged_traceback(caplog):
    from fastapi.testclient import TestClient

    from ui.server import INTERNAL_ERROR, create_api

    class Failing:  # a pool whose engine breaks, as a bug would
        settings = Settings()

        async def answer_async(self, *args):
            raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR):
        response = TestClient(create_api(Failing())).post("/api/ask", json={"question": "who"})
    assert response.status_code == 500 and response.json() == {"error": INTERNAL_ERROR}
    assert "RuntimeError: a bug" in caplog.text


def test_reload_is_refused_from_another_machine():
    from fastapi.testclient import TestClient

    from ui.server import LOCAL_ONLY, create_api

    client = TestClient(create_api(object()), client=("192.0.2.7", 50000))
    response = client.post("/api/reload")
    assert response.status_code == 403 and response.json() == {"error": LOCAL_ONLY}
