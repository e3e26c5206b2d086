"""The web server: a JSON API beside the Gradio chat, on one FastAPI app and one port.

    POST /api/ask      {"question": "...", "previous": "...", "k": 3} -> the object of `qa ask --json`
    GET  /api/health   the index build in use, its counts and model, whether it is stale
    POST /api/reload   look for a new build now (from this machine only)
    /docs              the OpenAPI page; /  the chat, whose `gradio_client` endpoint is /ask

Questions go to the engine processes of `ui.engines.EnginePool`, or come from its cache of answers. A
question that would wait there longer than its bound (`--max-wait`) is answered 503 at once, with
Retry-After the estimated wait in whole seconds, so a burst costs the visitors it cannot serve a fast
"try again" instead of everyone a slow answer. The chat's questions reach the same pool through Gradio's
queue, which passes them on at once so that the pool, not Gradio, decides. Every error is a status and
one sentence.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from index.errors import BadQuestion, QAError
from qa.followup import resolve
from ui.engines import Busy, EnginePool
from ui.handler import INTERNAL_ERROR

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
FASTEST = 0.02  # seconds: less than any question takes to compute (figures: README), for Gradio's limits
CHAT_THREADS = 1000  # at most this many chat events run at once, whatever the bound (more wait in Gradio's queue)
STALE_EVERY = 10.0  # seconds between two checks of the index against the corpus
BAD_BODY = 'The request body must be a JSON object like {"question": "When did the blockade start?"}'
TOO_LARGE = f"The request body is over {MAX_BODY // 1024} kB; send one question of at most 1000 characters."
LOCAL_ONLY = "Reloading is allowed from this machine only."


class Ask(BaseModel):
    question: str = Field(description="the question, at most 1000 characters")
    previous: str | None = Field(None, description="the question asked before, for a follow-up ('And the gas?')")
    k: int | None = Field(None, ge=1, le=10, description="at most this many quotes (default 3)")


def error(status: int, sentence: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": sentence}, status_code=status, headers=headers or None)


class LimitBody:
    """ASGI middleware: a request to /api/ with a body over `MAX_BODY` bytes gets 413 before it is read
    whole (by its Content-Length, or while it streams in without one)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return await error(413, TOO_LARGE)(scope, receive, send)
        body, more = [], True
        while more:
            message = await receive()
            body.append(message.get("body", b""))
            more = message.get("more_body", False)
            if sum(map(len, body)) > MAX_BODY:
                return await error(413, TOO_LARGE)(scope, receive, send)
        whole = b"".join(body)

        async def replay():
            nonlocal whole
            out, whole = whole, b""
            return {"type": "http.request", "body": out, "more_body": False}

        return await self.app(scope, replay, send)


def is_local(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_api(pool: EnginePool) -> FastAPI:
    app = FastAPI(
        title="Corpus QA",
        description="Verbatim quotes from the corpus, with citations; or the sentence that it does not answer.",
        version="1",
    )
    stale: dict = {"at": 0.0, "build": None, "reason": None}

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in problem.get("loc", ())[1:])
        if problem.get("type") == "json_invalid":
            said = " (this is not valid JSON)"
        else:
            said = f" ({where}: {problem.get('msg', '').lower()})" if where else ""
        return error(422, f"{BAD_BODY}{said}.")

    async def run(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @app.post("/api/ask", summary="Answer a question with verbatim quotes and citations")
    async def ask(body: Ask) -> JSONResponse:
        limit = pool.settings.max_question_chars
        try:
            answer = await pool.answer_async(body.question, body.k, resolve(body.question, body.previous, limit))
        except BadQuestion as exc:
            return error(400, str(exc))
        except Busy as exc:
            return error(503, str(exc), **{"Retry-After": str(exc.retry_after)})
        except Exception:
            log.exception("answering %r failed", body.question[:200])
            return error(500, INTERNAL_ERROR)
        return JSONResponse(answer.to_json())

    @app.get("/api/health", summary="The index in use, and whether it is stale")
    async def health() -> JSONResponse:
        status = pool.status()
        now = time.monotonic()
        if status["build"] != stale["build"] or now - stale["at"] > STALE_EVERY:
            stale.update(at=now, build=status["build"], reason=await run(stale_reason, pool, status["build"]))
        status["stale"] = stale["reason"] is not None
        status["stale_reason"] = stale["reason"]
        status["ok"] = status["build"] is not None
        return JSONResponse(status, status_code=200 if status["ok"] else 503)

    @app.post("/api/reload", summary="Load the build CURRENT names now (from this machine only)")
    async def reload(request: Request) -> JSONResponse:
        if not is_local(request.client.host if request.client else None):
            return error(403, LOCAL_ONLY)
        try:
            await run(pool.reload)
        except Busy as exc:
            return error(503, str(exc), **{"Retry-After": str(exc.retry_after)})
        return JSONResponse(pool.status())

    return app


def stale_reason(pool: EnginePool, build: str | None) -> str | None:
    """Why the build in use no longer matches its corpus or model (the sentence `make run` would say), or None."""
    from index.checks import check_index
    from index.store import read_manifest

    settings = pool.settings
    if build is None:
        return None
    try:
        check_index(read_manifest(settings.index, settings.index / build), settings.index, settings.corpus)
    except QAError as exc:
        return str(exc)
    except (OSError, ValueError) as exc:
        return f"The index cannot be read: {exc}"
    return None


def create_app(pool: EnginePool):
    """The API and the chat on one app (the chat at /)."""
    import gradio as gr

    from ui.app import build_app, launch_options

    api = create_api(pool)
    blocks = build_app(pool)
    # Gradio runs each event in a thread of its own at once, for more questions than the pool would admit
    # were each computed in `FASTEST` seconds, plus room for the side panel's calls: so the pool decides
    # which question waits and which is refused, as for the API. Gradio reads `max_threads` in `queue`.
    threads = min(pool.admits(FASTEST), CHAT_THREADS) + 8
    blocks.max_threads = threads
    blocks.queue(default_concurrency_limit=threads, max_size=threads)
    app = gr.mount_gradio_app(
        api, blocks, path="/", show_error=False, footer_links=["api"], ssr_mode=False, **launch_options()
    )
    app.add_middleware(LimitBody)
    return app
