"""`python -m eval.serving_bench [--runs 3] [--api http gradio] [--workers N]`: the serving figures for the README.

It starts `python -m ui` with its default settings (engine processes, the waiting-time bound) on a free
port over the live index, with the answer cache off (`--no-cache`: the load test repeats its questions),
and drives it with `eval.load`, `--runs` times over: one client alone (the single-question p50, from
which capacity = cores ÷ p50); the open loop at 10 questions a second for 60 s; the closed loop of 50
clients × 20 questions; overload at three times capacity for 20 s, how long the last answers took to
come back once the load dropped, then 5 questions a second for 5 s to see it serve normally again; and
the engine processes' memory. About 3 minutes a run and API.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from eval.load import render, run_load

ROOT = Path(__file__).resolve().parent.parent


def start(options: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "ui", "--port", str(port), "--no-build", "--no-cache", *options]
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


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/health", timeout=5) as response:
        return json.load(response)


def memory(url: str) -> str:
    return ", ".join(f"{w['rss_mb']:.0f} MB" for w in health(url)["workers"])


def one_run(url: str, api: str, cores: int) -> dict:
    """The five measurements of one run over `api`, printed as they come; the figures of each."""
    alone = run_load(url, api, clients=1, questions=30)
    capacity = cores / (alone["p50_ms"] / 1000)
    print(render(alone))
    print(f"  capacity = {cores} cores ÷ p50 {alone['p50_ms']} ms = {capacity:.1f} questions/s")
    steady = run_load(url, api, rate=10, seconds=60)
    print(render(steady), flush=True)
    closed = run_load(url, api, clients=50, questions=20)
    print(render(closed))
    print(f"  {closed['answered_per_s'] / capacity:.0%} of capacity", flush=True)
    over = run_load(url, api, rate=round(3 * capacity, 1), seconds=20)
    drained = over["seconds"] - over["seconds_asked"]
    print(render(over))
    print(f"  the last answers came back {drained:.2f} s after the load dropped", flush=True)
    after = run_load(url, api, rate=5, seconds=5)
    print(render(after))
    print(f"  engine RSS now: {memory(url)}", flush=True)
    return {"alone": alone, "capacity": capacity, "open": steady, "closed": closed, "overload": over, "after": after}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.serving_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--api", nargs="+", choices=["http", "gradio"], default=["http"])
    parser.add_argument("--workers", type=int, help="the server's --workers (default: its own, one per core)")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this file")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    process, url = start(["--workers", str(args.workers)] if args.workers else [])
    runs = []
    try:
        print(f"=== {len(health(url)['workers'])} engine processes ({cores} cores); engine RSS: {memory(url)}")
        for api in args.api:
            for n in range(1, args.runs + 1):
                print(f"\n--- {api}, run {n} of {args.runs}", flush=True)
                runs.append({"api": api, "run": n, **one_run(url, api, cores)})
    finally:
        process.terminate()
        process.wait(timeout=30)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
