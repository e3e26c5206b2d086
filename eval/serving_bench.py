"""`python -m eval.serving_bench [--workers 1 2] [--api http gradio]`: the load test's figures for the README.

For each worker count it starts `python -m ui` on a free port over the live index, and drives it with
`eval.load`: one client alone (the single-question p50, from which capacity = cores ÷ p50), the open
loop at 10 questions a second for 60 s, overload at three times capacity for 20 s, then 5 a second for
5 s to see it serve normally again; then, on a server whose queue holds 50 (`--queue 50`), the closed
loop of 50 clients × 20 questions. Takes ~15 minutes.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from eval.load import render, run_load

ROOT = Path(__file__).resolve().parent.parent


def start(workers: int, queue: int | None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "ui", "--port", str(port), "--no-build", "--workers", str(workers)]
    if queue:
        command += ["--queue", str(queue)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def memory(url: str) -> str:
    import json

    with urllib.request.urlopen(url + "/api/health", timeout=5) as response:
        health = json.load(response)
    return ", ".join(f"{w['rss_mb']:.0f} MB" for w in health["workers"])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.serving_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--api", nargs="+", choices=["http", "gradio"], default=["http", "gradio"])
    parser.add_argument("--queue", type=int, help="the server's --queue (default: its own)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    for workers in args.workers:
        process, url = start(workers, args.queue)
        try:
            print(f"\n=== --workers {workers} ({cores} cores); engine RSS after start: {memory(url)}", flush=True)
            capacity = {}
            for api in args.api:
                alone = run_load(url, api, clients=1, questions=30)
                capacity[api] = cores / (alone["p50_ms"] / 1000)
                print(render(alone))
                print(f"  capacity = {cores} cores ÷ p50 {alone['p50_ms']} ms = {capacity[api]:.1f} questions/s")
                print(render(run_load(url, api, rate=10, seconds=60)), flush=True)
                print(render(run_load(url, api, rate=round(3 * capacity[api], 1), seconds=20)), flush=True)
                print(render(run_load(url, api, rate=5, seconds=5)), flush=True)
                print(f"  engine RSS now: {memory(url)}", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
        # 50 clients asking at once wait in the queue: the server's queue holds them all (`--queue 50`).
        process, url = start(workers, max(args.queue or 0, 50))
        try:
            print(f"--- --workers {workers} --queue 50", flush=True)
            for api in args.api:
                closed = run_load(url, api, clients=50, questions=20)
                print(render(closed))
                print(f"  {closed['answered_per_s'] / capacity[api]:.0%} of capacity", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
