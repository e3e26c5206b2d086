"""`python -m ui [--host HOST] [--port PORT] [--workers N] [--max-wait SECONDS] [--no-cache]`: build the index
if needed, then serve the chat and the JSON API (`ui.server`) from N engine processes (`ui.engines`)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from pathlib import Path

from index.config import at_least_one
from ui.engines import CACHE_SIZE, MAX_WAIT


def port_taken(host: str, port: int) -> str | None:
    """Why the app could not listen on host:port (another app holds it, an unknown host), or None."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def seconds(text: str) -> float:
    """A number of seconds given on the command line, 0 or more (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, not {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(prog="python -m ui", description="Serve the question-answering chat.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--index", type=Path, help="index directory (default: var/index)")
    parser.add_argument("--no-build", action="store_true", help="do not build a missing or stale index")
    cores = len(os.sched_getaffinity(0))
    parser.add_argument(
        "--workers",
        type=at_least_one,
        default=cores,
        help=f"engine processes, each with its own engine (default: one per core, here {cores})",
    )
    parser.add_argument(
        "--max-wait",
        type=seconds,
        default=MAX_WAIT,
        metavar="SECONDS",
        help="a question expected to wait longer than this for an engine gets 503 with Retry-After at once "
        f"(default: {MAX_WAIT:g})",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help=f"answer every question afresh, without the cache of the last {CACHE_SIZE:,} answers "
        "(for load measurements, which repeat questions)",
    )
    args = parser.parse_args(argv)
    taken = port_taken(args.host, args.port)
    if taken:  # said now, not after the index is built and the model loaded
        print(
            f"error: cannot serve on {args.host}:{args.port} ({taken}); pass a free --port or another --host.",
            file=sys.stderr,
        )
        return 2
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    import uvicorn

    from index.build import build
    from index.checks import check_current
    from index.config import DEFAULT_CORPUS
    from index.errors import QAError
    from index.store import read_manifest
    from qa.settings import Settings
    from ui.engines import EnginePool
    from ui.server import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    settings = Settings.from_env(index=args.index)
    try:
        try:
            check_current(read_manifest(settings.index), settings.index, settings.corpus)
        except QAError as exc:
            if args.no_build:
                raise
            print(f"{exc} Building it now…", flush=True)
            for line in build(settings.corpus or DEFAULT_CORPUS, settings.index, progress=True).lines():
                print(line)
        pool = EnginePool(
            settings, workers=args.workers, max_wait=args.max_wait, cache=0 if args.no_cache else CACHE_SIZE
        )
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(pool)
    print(
        f"Ready after {time.perf_counter() - started:.1f} s with {args.workers} engine process"
        f"{'es' if args.workers > 1 else ''}: http://{args.host}:{args.port} (API: /api/ask, /docs)",
        flush=True,
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
