"""`python -m eval load --url URL`: drive a running server with the eval sets' questions and time it.

Closed loop (`--clients C --questions Q`): C clients, each asking Q questions one after another, the
next as soon as the last is answered; it measures what the server sustains. Open loop (`--rate R
--seconds S`): a question every 1/R seconds whatever the answers do, the way visitors arrive; it
measures what a visitor waits at that rate, and how the server sheds what it cannot serve (503).

`--api http` posts to /api/ask; `--api gradio` goes through the chat's Gradio endpoint /ask (Gradio's
HTTP protocol: POST /gradio_api/call/ask, then read the event stream). Only addresses on this machine
are driven, and every run is bounded: at most `MAX_REQUESTS` questions and `MAX_SECONDS` seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

MAX_REQUESTS = 20_000
MAX_SECONDS = 600
TIMEOUT = 30.0  # seconds a question may take before it counts as a timeout
TUNING_FILES = ("questions.jsonl", "visitors_tune.jsonl")
QUESTION_FILES = ("visitors_report.jsonl", "visitors_tune.jsonl", "natural.jsonl", "holdout.jsonl", "questions.jsonl")


def local_url(url: str) -> str:
    """`url` without a trailing slash, or ValueError unless its host is this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url} is not an http:// address.")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
    except OSError as exc:
        raise ValueError(f"{parts.hostname} cannot be resolved ({exc}).") from exc
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ValueError(f"The load test drives servers on this machine only; {parts.hostname} is not.")
    return url.rstrip("/")


def eval_questions(names: tuple[str, ...] = QUESTION_FILES) -> list[str]:
    """The questions of the eval sets `names` (follow-ups left out: they need the question before them)."""
    from eval.questions import load_questions

    folder = Path(__file__).parent
    return [q.question for name in names for q in load_questions(folder / name) if not q.follows]


@dataclass
class Tally:
    """What came back: latencies of answers and of refusals, errors by kind."""

    answered: list[float] = field(default_factory=list)  # seconds, status 200
    shed: list[float] = field(default_factory=list)  # seconds to a 503
    errors: Counter = field(default_factory=Counter)
    retry_after: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None

    def add(self, kind: str, seconds: float, retry_after: str | None = None) -> None:
        if kind == "ok":
            self.answered.append(seconds)
        else:
            self.errors[kind] += 1
            if kind == "503":
                self.shed.append(seconds)
                self.retry_after[retry_after or "none"] += 1

    def summary(self) -> dict:
        elapsed = (self.ended or time.perf_counter()) - self.started
        sent = len(self.answered) + sum(self.errors.values())
        return {
            "sent": sent,
            "answered": len(self.answered),
            "errors": dict(sorted(self.errors.items())),
            "p50_ms": percentile(self.answered, 50),
            "p95_ms": percentile(self.answered, 95),
            "max_ms": percentile(self.answered, 100),
            "shed_p95_ms": percentile(self.shed, 95),
            "retry_after": dict(self.retry_after),
            "seconds": round(elapsed, 2),
            "answered_per_s": round(len(self.answered) / elapsed, 2) if elapsed else 0.0,
        }


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile of `values` (seconds) in ms, nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return round(ordered[int(rank) - 1] * 1000, 1)


async def ask_http(client, url: str, question: str) -> tuple[str, str | None]:
    response = await client.post(f"{url}/api/ask", json={"question": question})
    if response.status_code == 200:
        body = response.json()
        return ("ok" if "quotes" in body else "bad answer"), None
    return str(response.status_code), response.headers.get("retry-after")


async def chat_answer(client, url: str, question: str) -> tuple[str, dict | None, str | None]:
    """The chat's `/ask` endpoint as `gradio_client` calls it (POST, then the event stream): ("complete",
    the answer object, None), or (what went wrong: a status, "gradio error", "no result"; None; Retry-After)."""
    response = await client.post(f"{url}/gradio_api/call/ask", json={"data": [question, ""]})
    if response.status_code != 200:
        return str(response.status_code), None, response.headers.get("retry-after")
    event = None
    async with client.stream("GET", f"{url}/gradio_api/call/ask/{response.json()['event_id']}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    return "gradio error", None, None
                data = json.loads(line.split(":", 1)[1])
                return "complete", (data[0] if isinstance(data, list) and data else {}), None
    return "no result", None, None


async def ask_gradio(client, url: str, question: str) -> tuple[str, str | None]:
    kind, answer, retry = await chat_answer(client, url, question)
    if kind != "complete":
        return kind, retry
    if "quotes" in answer:
        return "ok", None
    return ("busy" if "busy" in str(answer.get("error", "")) else "bad answer"), None


async def one(client, ask, url: str, question: str, tally: Tally) -> None:
    import httpx

    started = time.perf_counter()
    try:
        kind, retry = await asyncio.wait_for(ask(client, url, question), TIMEOUT)
    except TimeoutError:
        kind, retry = "timeout", None
    except httpx.HTTPError as exc:
        kind, retry = exc.__class__.__name__, None
    tally.add(kind, time.perf_counter() - started, retry)


async def closed_loop(url: str, api: str, clients: int, questions: int, pool: list[str], seconds: float) -> Tally:
    import httpx

    ask = ask_http if api == "http" else ask_gradio
    tally, deadline = Tally(), time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=TIMEOUT) as client:

        async def visitor(number: int) -> None:
            chosen = random.Random(number).sample(pool, min(questions, len(pool)))
            chosen += random.Random(number).choices(pool, k=questions - len(chosen))
            for question in chosen:
                if time.perf_counter() > deadline:
                    return
                await one(client, ask, url, question, tally)

        await asyncio.gather(*(visitor(n) for n in range(clients)))
    tally.ended = time.perf_counter()
    return tally


async def open_loop(url: str, api: str, rate: float, seconds: float, pool: list[str]) -> Tally:
    import httpx

    ask = ask_http if api == "http" else ask_gradio
    tally, rng = Tally(), random.Random(0)
    total = min(int(rate * seconds), MAX_REQUESTS)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=TIMEOUT) as client:
        tasks, start = [], time.perf_counter()
        for n in range(total):  # on a fixed schedule, whatever the answers do
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client, ask, url, rng.choice(pool), tally)))
        await asyncio.gather(*tasks)
    tally.ended = time.perf_counter()
    return tally


def run_load(
    url: str,
    api: str = "http",
    clients: int | None = None,
    questions: int | None = None,
    rate: float | None = None,
    seconds: float | None = None,
) -> dict:
    """One run, closed loop when `clients` is given, open loop when `rate` is; its `Tally.summary`."""
    url = local_url(url)
    pool = eval_questions()
    if rate is not None:
        if not 0 < rate * (seconds or 0) <= MAX_REQUESTS or seconds > MAX_SECONDS:
            raise ValueError(f"--rate × --seconds must be 1 to {MAX_REQUESTS}, --seconds at most {MAX_SECONDS}.")
        tally = asyncio.run(open_loop(url, api, rate, seconds, pool))
        shape = {"loop": "open", "rate": rate, "seconds_asked": seconds}
    else:
        clients, questions = clients or 50, questions or 20
        if clients * questions > MAX_REQUESTS:
            raise ValueError(f"--clients × --questions must be at most {MAX_REQUESTS}.")
        tally = asyncio.run(closed_loop(url, api, clients, questions, pool, min(seconds or MAX_SECONDS, MAX_SECONDS)))
        shape = {"loop": "closed", "clients": clients, "questions_each": questions}
    return {"url": url, "api": api, **shape, **tally.summary()}


def render(result: dict) -> str:
    if result["loop"] == "open":
        head = f"open loop, {result['rate']} questions/s for {result['seconds_asked']} s"
    else:
        head = f"closed loop, {result['clients']} clients × {result['questions_each']} questions"
    errors = ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "none"
    lines = [
        f"{head} over {result['api']} at {result['url']}",
        f"  sent {result['sent']}, answered {result['answered']}, errors {errors}",
        f"  latency of answers: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms",
        f"  {result['answered_per_s']} answered per second over {result['seconds']} s",
    ]
    if result["shed_p95_ms"] is not None:
        retry = ", ".join(f"{k}: {v}" for k, v in result["retry_after"].items())
        lines.append(f"  shed (503): p95 {result['shed_p95_ms']} ms to the refusal; Retry-After {retry}")
    return "\n".join(lines)
