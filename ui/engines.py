"""Engines for a server: N worker processes, each holding its own `Engine` over the read-only index.

The web process (FastAPI with the Gradio chat, `ui.server`) holds no engine. It sends each question to
a pool of engine processes, so the app answers on every core while the chat's per-visitor state stays in
the one process that serves the page (Gradio keeps it in memory, so several web processes would lose it).
Each engine process gives its networks an equal share of the cores.

Every engine process watches the index's CURRENT pointer (`RELOAD_EVERY` seconds). When a build switches
it, the process loads the new build beside the old one and swaps, so no question in flight is dropped; a
build that cannot be loaded (damaged, of another format, of another model) is said in the log and in
`status()`, and the process goes on answering from the build it has. The processes report what they
serve on a queue that the web process reads (`EnginePool.status`).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from index.errors import QAError
from index.store import live_folder
from index.types import Document
from qa.settings import Settings
from qa.types import Answer

log = logging.getLogger(__name__)
RELOAD_EVERY = 1.0  # seconds between two looks at CURRENT
BUSY = "The server is busy; please ask again in a moment."
RESTARTING = "An engine process stopped and is being restarted; please ask again in a moment."


class Busy(Exception):
    """No engine can take the question now (the queue is full, or an engine process is restarting)."""

    def __init__(self, message: str = BUSY) -> None:
        super().__init__(message)


def current_build(index: Path) -> str | None:
    """The name of the live build folder, or None when there is none."""
    try:
        return live_folder(Path(index)).name
    except QAError:
        return None


class EngineSlot:
    """One process's engine, swapped for a new one when CURRENT names another build."""

    def __init__(self, settings: Settings, report=None) -> None:
        from qa.engine import Engine

        self.settings = settings
        self.report = report or (lambda event: None)  # where loads and failures are told
        self.engine = Engine.load(settings)
        self.engine.warm_up()
        self.failed: dict[str, str] = {}  # build -> why it could not be loaded
        self.lock = threading.Lock()
        self.tell(None)

    def tell(self, error: str | None, build: str | None = None) -> None:
        stored = self.engine.stored
        self.report(
            {
                "pid": os.getpid(),
                "build": self.engine.build,
                "model": stored.manifest["model"].get("key", "minilm"),
                "documents": len(stored.documents),
                "passages": len(stored.passages),
                "failed_build": build,
                "error": error,
            }
        )

    def refresh(self) -> None:
        """Load the build CURRENT names now if it is new; keep the old engine if it cannot be loaded."""
        from qa.engine import Engine

        with self.lock:
            build = current_build(self.settings.index)
            if build is None or build == self.engine.build or build in self.failed:
                return
            try:
                engine = Engine.load(self.settings)
                engine.warm_up()
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old engine serving
                reason = str(exc) if isinstance(exc, QAError) else f"{exc.__class__.__name__}: {exc}"
                self.failed[build] = reason
                log.error("Cannot load the index build %s, answering from %s: %s", build, self.engine.build, reason)
                self.tell(reason, build)
                return
            old, self.engine = self.engine, engine
            log.info("Answering from the index build %s (was %s).", engine.build, old.build)
            self.tell(None)

    def watch(self, every: float = RELOAD_EVERY) -> None:
        """Look at CURRENT every `every` seconds, in a daemon thread."""

        def loop() -> None:
            while True:
                time.sleep(every)
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - the watcher must outlive any one failure
                    log.exception("Looking for a new index build failed")

        threading.Thread(target=loop, name="index-watch", daemon=True).start()


# In each engine process: its slot, made by `_start`.
_slot: EngineSlot | None = None


def _start(settings: Settings, events, parent: int, ready) -> None:
    """A new engine process: load the engine, watch the index, and end when the web process is gone."""
    global _slot
    logging.basicConfig(level=logging.INFO, format="%(asctime)s engine %(process)d %(levelname)s %(message)s")
    _slot = EngineSlot(settings, events.put)
    _slot.watch()

    def orphaned() -> None:  # a web process killed with SIGKILL cannot stop its pool
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=orphaned, name="parent-watch", daemon=True).start()
    ready.wait()


def _ready() -> int:
    return os.getpid()


def _answer(question: str, search: str | None, k: int | None) -> Answer:
    return _slot.engine.answer(question, k=k, search=search)


def _document(doc_id: str) -> Document | None:
    return _slot.engine.documents.get(doc_id)


def _listing() -> list[Document]:
    return _slot.engine.documents.listing()


def _refresh() -> None:
    _slot.refresh()


class Documents:
    """The pool's documents as the chat handler reads them (`get`, `values`), fetched when asked."""

    def __init__(self, pool: EnginePool) -> None:
        self.pool = pool

    def get(self, doc_id: str) -> Document | None:
        return self.pool.call(_document, doc_id)

    def listing(self) -> list[Document]:
        """The corpus panel's documents (`index.tables.DocumentsById.listing`)."""
        return self.pool.call(_listing)


class EnginePool:
    """`workers` engine processes. `answer` has the signature of `Engine.answer` for what the chat and the
    API pass, and raises `Busy` when more than `queue` questions wait already."""

    def __init__(self, settings: Settings, workers: int = 1, queue: int = 10, cores: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        cores = cores or len(os.sched_getaffinity(0))
        self.workers, self.queue = workers, queue
        self.settings = replace(settings, threads=settings.threads or max(1, cores // workers))
        self.documents = Documents(self)
        self.context = multiprocessing.get_context("spawn")  # no threads or locks copied from this process
        self.events = self.context.Queue()
        self.state: dict[int, dict] = {}  # pid -> the last event it told
        self.lock = threading.Lock()
        self.waiting = 0  # questions sent and not yet answered
        self.restarting = False
        self.executor: ProcessPoolExecutor | None = None
        self.pids: list[int] = []
        self._start()
        threading.Thread(target=self._listen, name="engine-events", daemon=True).start()

    def _start(self) -> None:
        """Start the processes and wait until each has loaded its engine (a failure raises its QAError)."""
        ready = self.context.Barrier(self.workers)
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=self.context,
            initializer=_start,
            initargs=(self.settings, self.events, os.getpid(), ready),
        )
        # One task per process: each waits at the barrier in `_start` until all have loaded.
        pids = [executor.submit(_ready) for _ in range(self.workers)]
        try:
            pids = [p.result() for p in pids]
            with self.lock:
                self.pids = pids
                self.state = {p: e for p, e in self.state.items() if p in pids}
        except BrokenProcessPool as exc:  # an engine could not load: say why, as `Engine.load` would
            from qa.engine import Engine

            executor.shutdown(cancel_futures=True)
            Engine.load(self.settings)  # raises the QAError that stopped the processes
            raise RuntimeError("the engine processes stopped while loading") from exc
        self.executor = executor

    def _listen(self) -> None:
        while True:
            event = self.events.get()
            with self.lock:
                self.state[event["pid"]] = event

    def submit(self, fn, *args) -> Future:
        """Start `fn(*args)` in an engine process. `Busy` when more than `queue` questions wait already,
        or while the pool restarts after a process died."""
        with self.lock:
            if self.waiting >= self.queue + self.workers:
                raise Busy()
            self.waiting += 1
            executor = self.executor
        try:
            future = executor.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down for a restart
            with self.lock:
                self.waiting -= 1
            self._restart(executor)
            raise Busy(RESTARTING) from None
        future.add_done_callback(self._done)
        future.executor = executor
        return future

    def _done(self, future: Future) -> None:
        with self.lock:
            self.waiting -= 1
        if isinstance(future.exception(), BrokenProcessPool):
            self._restart(future.executor)

    def call(self, fn, *args):
        """`fn(*args)` in an engine process, waited for (`submit`)."""
        future = self.submit(fn, *args)
        try:
            return future.result()
        except BrokenProcessPool:
            raise Busy(RESTARTING) from None

    async def acall(self, fn, *args):
        """`call` for a coroutine: waits without holding a thread."""
        future = self.submit(fn, *args)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            raise Busy(RESTARTING) from None

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """Start a new pool in the background (questions meanwhile get `Busy`)."""
        with self.lock:
            if self.executor is not broken or self.restarting:
                return
            self.restarting = True
        log.error("An engine process died; starting the engine processes again.")
        broken.shutdown(wait=False, cancel_futures=True)

        def again() -> None:
            try:
                self._start()
            except Exception:  # noqa: BLE001 - said in the log; questions keep getting Busy
                log.exception("The engine processes could not be started again")
            finally:
                self.restarting = False

        threading.Thread(target=again, name="engine-restart", daemon=True).start()

    def answer(self, question: str, k: int | None = None, search: str | None = None) -> Answer:
        return self.call(_answer, question, search, k)

    async def answer_async(self, question: str, k: int | None = None, search: str | None = None) -> Answer:
        return await self.acall(_answer, question, search, k)

    def reload(self, timeout: float = 60.0) -> None:
        """Have every process load the build CURRENT names now (each also looks on its own every
        `RELOAD_EVERY` seconds); returns when all serve it or have said why they cannot, or at `timeout`."""
        wait([self.submit(_refresh) for _ in range(self.workers)], timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            newest = current_build(self.settings.index)
            with self.lock:
                events = [self.state.get(p) for p in self.pids]
            if all(e and newest in (e["build"], e["failed_build"]) for e in events):
                return
            time.sleep(0.1)

    def status(self) -> dict:
        """What the processes serve: the build most of them answer from, its counts and model, each
        process's build and memory, and why a newer build could not be loaded, if one could not."""
        with self.lock:
            events = [self.state[p] for p in self.pids if p in self.state]
        builds = [e["build"] for e in events]
        serving = max(builds, key=builds.count) if builds else None
        newest = current_build(self.settings.index)
        errors = sorted({e["error"] for e in events if e["error"] and e["failed_build"] == newest})
        first = next((e for e in events if e["build"] == serving), {})
        return {
            "build": serving,
            "current": newest,
            "documents": first.get("documents"),
            "passages": first.get("passages"),
            "model": first.get("model"),
            "load_error": errors[0] if errors else None,
            "waiting": self.waiting,
            "workers": [{"pid": e["pid"], "build": e["build"], "rss_mb": rss_mb(e["pid"])} for e in events],
        }

    def close(self) -> None:
        if self.executor:
            self.executor.shutdown(wait=False, cancel_futures=True)


def rss_mb(pid: int) -> float | None:
    """Resident memory of process `pid` in MB (Linux), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
