"""Admission by waiting time and the cache of answers, over engine processes whose engine is a fake that
takes `SERVICE` seconds a question (no model), and once over the real engine."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from qa.followup import resolve
from qa.question import clean_question
from qa.settings import Settings
from qa.types import Answer
from ui.engines import BUSY, Busy, EnginePool, _answer, current_build

SERVICE = 0.3  # seconds the fake engine takes to answer a question
QUICK = SERVICE / 3  # a refusal comes back well before one question could have been computed


class FakeDocuments:
    def get(self, doc_id: str) -> None:
        return None

    def listing(self) -> list:
        return []


class SlowEngine:
    """Answers after `SERVICE` seconds, saying which answer of its process it is and from which build."""

    def __init__(self, build: str) -> None:
        self.build, self.computed, self.documents = build, 0, FakeDocuments()

    def answer(self, question: str, k: int | None = None, search: str | None = None) -> Answer:
        time.sleep(SERVICE)
        self.computed += 1
        notice = f"answer {self.computed} of {os.getpid()} from {self.build}"
        searched = clean_question(search, 1000) if search else None
        return Answer(clean_question(question, 1000), [], True, notice=notice, searched=searched)


class SlowSlot:
    """An engine process's slot holding a `SlowEngine` over the build CURRENT names."""

    def __init__(self, settings: Settings, report) -> None:
        self.settings, self.report = settings, report
        self.engine = None
        self.refresh()

    def refresh(self) -> None:
        build = current_build(self.settings.index)
        if self.engine is None or self.engine.build != build:
            self.engine = SlowEngine(build)
        self.report({"pid": os.getpid(), "build": build, "failed_build": None, "error": None})

    def watch(self) -> None:
        pass


class SlowPool(EnginePool):
    slot = SlowSlot


def fake_index(folder, build: str = "build-a"):
    """An index folder whose CURRENT names `build` (enough for `current_build`; the fake reads nothing else)."""
    (folder / build).mkdir(parents=True, exist_ok=True)
    (folder / build / "manifest.json").write_text("{}", encoding="utf-8")
    (folder / "CURRENT").write_text(build, encoding="utf-8")
    return folder


@contextmanager
def slow_pool(folder, **options):
    pool = SlowPool(Settings(index=fake_index(folder)), **{"workers": 1, **options})
    try:
        yield pool
    finally:
        pool.close()


def measured(pool: EnginePool) -> None:
    """Ask one question and wait until its seconds replaced the prior estimate."""
    pool.answer("how long does one question take")
    deadline = time.monotonic() + 5
    while pool.status()["service_ms"] < SERVICE * 1000 * 0.9:
        assert time.monotonic() < deadline, "the service time was not measured"
        time.sleep(0.01)


async def timed(ask, question: str):
    started = time.perf_counter()
    result = await ask(question)
    return result, time.perf_counter() - started


def test_questions_that_would_wait_over_the_bound_get_503_at_once_and_the_others_are_answered(tmp_path):
    from ui.server import create_api

    # One process, 0.3 s a question, at most 1 s of waiting: 0, 0.3, 0.6 and 0.9 s for the first four.
    with slow_pool(tmp_path, max_wait=1.0, cache=0) as pool:
        measured(pool)

        async def burst() -> list:
            transport = httpx.ASGITransport(app=create_api(pool))
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:

                def ask(question):
                    return client.post("/api/ask", json={"question": question})

                together = await asyncio.gather(*(timed(ask, f"question number {i}") for i in range(10)))
                again = await timed(ask, "a question after the burst")
            return together, again

        together, again = asyncio.run(burst())
        answered = [(r, s) for r, s in together if r.status_code == 200]
        refused = [(r, s) for r, s in together if r.status_code != 200]
        assert len(answered) == 4 and len(refused) == 6
        for response, seconds in refused:
            assert response.status_code == 503 and response.json() == {"error": BUSY}
            assert response.headers["retry-after"] == "2"  # 1.2 s expected, in whole seconds rounded up
            assert seconds < QUICK
        # Those let in waited within the bound: the last one 0.9 s, then its own 0.3 s.
        assert max(s for _, s in answered) < 1.0 + SERVICE + QUICK
        assert all(r.json()["notice"].startswith("answer ") for r, _ in answered)
        assert again[0].status_code == 200 and pool.status()["waiting"] == 0


async def ask_the_chat(client, url: str, question: str) -> dict:
    """The chat's `/ask` endpoint over HTTP, as `gradio_client` calls it: its answer, or {"gradio": what failed}."""
    from eval.load import chat_answer

    kind, answer, _ = await chat_answer(client, url, question)
    return answer if kind == "complete" else {"gradio": kind}


@contextmanager
def served(app):
    """`app` served by uvicorn in a thread on a free port: yields its URL."""
    import uvicorn

    from tests.conftest import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_chat_passes_questions_on_and_the_pool_refuses_those_that_would_wait_too_long(tmp_path):
    from ui.server import create_app

    with slow_pool(tmp_path, max_wait=1.0, cache=0) as pool, served(create_app(pool)) as url:
        measured(pool)

        async def burst() -> list:
            async with httpx.AsyncClient(timeout=30) as client:
                asked = (timed(lambda q: ask_the_chat(client, url, q), f"question number {i}") for i in range(10))
                return await asyncio.gather(*asked)

        together = asyncio.run(burst())
    said = [answer.get("notice") or answer.get("error") or answer for answer, _ in together]
    assert sum(str(s).startswith("answer ") for s in said) == 4, said
    refused = [seconds for answer, seconds in together if answer.get("error") == BUSY]
    assert len(refused) == 6, said  # refused by the pool, not by Gradio's queue
    assert max(refused) < SERVICE


def number(answer: Answer) -> int:
    """Which answer of its engine process the fake's answer was: computed again, it is a new one."""
    return int(answer.notice.split()[1])


def test_a_repeated_question_skips_the_queue_and_the_cache_keeps_only_the_newest(tmp_path):
    with slow_pool(tmp_path, max_wait=0.0, cache=3) as pool:
        first = pool.answer("When did the blockade start?")
        # While the only engine is busy, and no question may wait: a new question is refused, a repeated one,
        # typed another way, comes from the cache at once.
        busy = pool.submit(_answer, "a slow question", None, None, question=True)
        with pytest.raises(Busy):
            pool.answer("a new question")
        started = time.perf_counter()
        again = pool.answer("when did the blockade start")
        assert time.perf_counter() - started < QUICK and not busy.done()
        assert number(again) == number(first) == 1 and again.question == "when did the blockade start"
        busy.result()

        asked = ["who blocks the corridor", "what about the gas", "how many children"]
        for question in asked:
            pool.answer(question)
            assert pool.status()["cached"] <= 3
        assert number(pool.answer(asked[-1])) == 5  # the newest is kept
        assert number(pool.answer("When did the blockade start?")) == 6  # the oldest was forgotten
        assert pool.status()["cached"] == 3


def test_the_cache_is_not_used_once_a_new_build_is_served(tmp_path):
    with slow_pool(tmp_path) as pool:
        first = pool.answer("When did the blockade start?")
        assert pool.answer("When did the blockade start?").notice == first.notice
        fake_index(tmp_path, "build-b")
        pool.reload()
        fresh = pool.answer("When did the blockade start?")
        assert fresh.notice.endswith("from build-b") and fresh.notice != first.notice


def without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def test_a_cached_answer_is_the_answer_computed_afresh(seed_index):
    pool = EnginePool(Settings(index=seed_index), workers=1)
    try:
        first = pool.answer("When did the blockade start?")
        again = pool.answer("when did the blockade start")
        fresh = pool.call(_answer, "when did the blockade start", None, None)[2]
        assert again.timings_ms == first.timings_ms != fresh.timings_ms  # from the cache, not computed
        assert without_timings(again.to_json()) == without_timings(fresh.to_json())
        assert again.quotes and again.question == "when did the blockade start"

        # A follow-up: its search decides, typed either way.
        typed = resolve("And the gas?", "When did the blockade start?")
        follow = pool.answer("And the gas?", search=typed)
        lower = resolve("and the gas", "when did the blockade start?")
        cached = pool.answer("and the gas", search=lower)
        fresh = pool.call(_answer, "and the gas", lower, None)[2]
        assert cached.timings_ms == follow.timings_ms
        assert without_timings(cached.to_json()) == without_timings(fresh.to_json())
        assert cached.searched == lower == "when did the blockade start? and the gas"

        # Another k is another answer.
        assert len(pool.answer("When did the blockade start?", k=1).quotes) == 1
        assert pool.status()["cached"] == 3
    finally:
        pool.close()
