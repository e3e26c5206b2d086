"""`python -m ui [--host HOST] [--port PORT]`: build the index if needed, then serve the chat."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path


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


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(prog="python -m ui", description="Serve the question-answering chat.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--index", type=Path, help="index directory (default: var/index)")
    parser.add_argument("--no-build", action="store_true", help="do not build a missing or stale index")
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

    from index.build import build
    from index.checks import check_current
    from index.config import DEFAULT_CORPUS
    from index.errors import QAError
    from index.store import read_manifest
    from qa.engine import Engine
    from qa.settings import Settings
    from ui.app import build_app, launch_options

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
        engine = Engine.load(settings)
        engine.warm_up()
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = build_app(engine)
    app.queue(default_concurrency_limit=1)
    print(f"Ready after {time.perf_counter() - started:.1f} s: http://{args.host}:{args.port}", flush=True)
    app.launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        show_error=False,
        **launch_options(),
        footer_links=["api"],
        ssr_mode=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
