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

Admission is by waiting time: a question that would wait more than `max_wait` seconds before an engine
process starts on it is refused at once (`Busy`, with the seconds after which to ask again). The wait is
estimated from the questions ahead of it, the number of processes and a running mean of the seconds one
question takes to compute (`EnginePool.expected_wait`). Other calls (a document, the corpus listing, a
reload) are cheap and never refused by the bound, so a chat that got its answer can always show it.

The web process keeps the last `CACHE_SIZE` answers (`Answers`), keyed by what decides an answer: the
question's normal form, the text searched for a follow-up, `k`, and the build that computed it, looked up
under the build every process serves; a repeated question skips the queue and the engines.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from functools import partial
from pathlib import Path

from index.errors import QAError
from index.store import live_folder
from index.types import Document
from qa.question import clean_question, normal_form
from qa.settings import Settings
from qa.types import Answer

log = logging.getLogger(__name__)
RELOAD_EVERY = 1.0  # seconds between two looks at CURRENT
# Seconds a question may be expected to wait for an engine process before it is refused: with its own
# computation and the web process's share, an answer comes back within about 2 s.
MAX_WAIT = 1.8
SERVICE_PRIOR = 0.1  # seconds one question is taken to cost until one has been measured
SERVICE_WEIGHT = 0.05  # weight of the newest measurement in the running mean (about the last twenty count)
CACHE_SIZE = 1000  # answers kept in the web process (0: none)
BUSY = "The server is busy; please ask again in a moment."
RESTARTING = "An engine process stopped and is being restarted; please ask again in a moment."


class Busy(Exception):
    """No engine can take the question now (it would wait too long, or an engine process is restarting);
    `retry_after` is the whole seconds after which to ask again."""

    def __init__(self, message: str = BUSY, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


def _start(settings: Settings, events, parent: int, ready, slot=EngineSlot) -> None:
    """A new engine process: load the engine, watch the index, and end when the web process is gone."""
    global _slot
    logging.basicConfig(level=logging.INFO, format="%(asctime)s engine %(process)d %(levelname)s %(message)s")
    _slot = slot(settings, events.put)
    _slot.watch()

    def orphaned() -> None:  # a web process killed with SIGKILL cannot stop its pool
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=orphaned, name="parent-watch", daemon=True).start()
    ready.wait()


def _ready() -> int:
    return os.getpid()


def _answer(question: str, search: str | None, k: int | None) -> tuple[str, float, Answer]:
    """(the build that answered, the seconds computing took, the answer): for the cache and the wait estimate."""
    engine = _slot.engine  # one engine for the whole question, even if a new build is swapped in meanwhile
    started = time.perf_counter()
    answer = engine.answer(question, k=k, search=search)
    return engine.build, time.perf_counter() - started, answer


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


class Answers:
    """The last `size` answers by key, the least recently used forgotten first; safe from many threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple, Answer] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Answer | None:
        with self.lock:
            answer = self.items.get(key)
            if answer is not None:
                self.items.move_to_end(key)
            return answer

    def put(self, key: tuple, answer: Answer) -> None:
        with self.lock:
            self.items[key] = answer
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def __len__(self) -> int:
        return len(self.items)


class EnginePool:
    """`workers` engine processes (default: one per core). `answer` has the signature of `Engine.answer` for
    what the chat and the API pass; it raises `Busy` when the question would wait over `max_wait` seconds,
    and answers a question it answered before for the same build from its cache (`cache` answers; 0: none).
    """

    slot = EngineSlot  # what each process holds its engine in (a test gives a fake one)

    def __init__(
        self,
        settings: Settings,
        workers: int | None = None,
        max_wait: float = MAX_WAIT,
        cache: int = CACHE_SIZE,
        cores: int | None = None,
    ) -> None:
        cores = cores or len(os.sched_getaffinity(0))
        workers = cores if workers is None else workers
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers, self.max_wait = workers, max_wait
        self.settings = replace(settings, threads=settings.threads or max(1, cores // workers))
        self.documents = Documents(self)
        self.answers = Answers(cache) if cache > 0 else None
        self.context = multiprocessing.get_context("spawn")  # no threads or locks copied from this process
        self.events = self.context.Queue()
        self.state: dict[int, dict] = {}  # pid -> the last event it told
        self.lock = threading.Lock()
        self.waiting = 0  # questions sent and not yet answered
        self.service = SERVICE_PRIOR  # running mean of the seconds one question takes to compute
        self.measured = False  # whether `service` is a measurement yet, not the prior
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
            initargs=(self.settings, self.events, os.getpid(), ready, self.slot),
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

    def expected_wait(self, ahead: int) -> float:
        """Seconds a question with `ahead` questions before it would wait until a process starts on it: one
        per process starts at once, the rest are answered `workers` at a time, each in `service` seconds."""
        return max(0, ahead + 1 - self.workers) * self.service / self.workers

    def admits(self, service: float) -> int:
        """The most questions let in at once (waiting or being answered) were each computed in `service` s."""
        return math.floor(self.max_wait * self.workers / service) + self.workers

    def submit(self, fn, *args, question: bool = False) -> Future:
        """Start `fn(*args)` in an engine process. `Busy` while the pool restarts after a process died, and
        for a `question` that would wait over `max_wait` seconds (other calls are cheap: never refused)."""
        with self.lock:
            if question:
                expected = self.expected_wait(self.waiting)
                if expected > self.max_wait:  # by then the questions ahead of it will have been answered
                    raise Busy(retry_after=max(1, math.ceil(expected)))
                self.waiting += 1
            executor = self.executor
        try:
            future = executor.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down for a restart
            if question:
                with self.lock:
                    self.waiting -= 1
            self._restart(executor)
            raise Busy(RESTARTING) from None
        future.add_done_callback(partial(self._done, question))
        future.executor = executor
        return future

    def _done(self, question: bool, future: Future) -> None:
        if question:
            with self.lock:
                self.waiting -= 1
        if not future.cancelled() and isinstance(future.exception(), BrokenProcessPool):
            self._restart(future.executor)

    def call(self, fn, *args):
        """`fn(*args)` in an engine process, waited for (`submit`)."""
        future = self.submit(fn, *args)
        try:
            return future.result()
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

    def serving(self) -> str | None:
        """The build every engine process answers from, or None (not told yet, or switching builds)."""
        with self.lock:
            builds = {self.state[p]["build"] if p in self.state else None for p in self.pids}
        return builds.pop() if len(builds) == 1 else None

    def _measured(self, future: Future) -> None:
        """A question is computed: count its seconds into `service` (the first one replaces the prior)."""
        if future.cancelled() or future.exception() is not None:
            return
        _, seconds, _ = future.result()
        with self.lock:
            self.service += (SERVICE_WEIGHT if self.measured else 1.0) * (seconds - self.service)
            self.measured = True

    def _ask(self, question: str, k: int | None, search: str | None) -> tuple[tuple | None, Answer | Future]:
        """(the cache key or None, the cached answer or the future of one being computed)."""
        key = None
        if self.answers is not None:  # the key is what decides the answer, as `Engine.answer` reads it
            limit = self.settings.max_question_chars
            typed = clean_question(question, limit)  # a bad question is refused here as the engine would
            searched = clean_question(search, limit) if search else None
            key = (normal_form(typed), searched and normal_form(searched), k or self.settings.quotes)
            build = self.serving()
            cached = self.answers.get((build, *key)) if build else None
            if cached is not None:  # as a fresh answer reads: the question and a follow-up's search as typed now
                return key, replace(cached, question=typed, searched=searched or cached.searched)
        future = self.submit(_answer, question, search, k, question=True)
        future.add_done_callback(self._measured)
        return key, future

    def _keep(self, key: tuple | None, computed: tuple[str, float, Answer]) -> Answer:
        """The answer computed, kept in the cache under the build that computed it."""
        build, _, answer = computed
        if key is not None:
            self.answers.put((build, *key), answer)
        return answer

    def answer(self, question: str, k: int | None = None, search: str | None = None) -> Answer:
        key, asked = self._ask(question, k, search)
        if isinstance(asked, Answer):
            return asked
        try:
            return self._keep(key, asked.result())
        except BrokenProcessPool:
            raise Busy(RESTARTING) from None

    async def answer_async(self, question: str, k: int | None = None, search: str | None = None) -> Answer:
        key, asked = self._ask(question, k, search)
        if isinstance(asked, Answer):
            return asked
        try:
            return self._keep(key, await asyncio.wrap_future(asked))
        except BrokenProcessPool:
            raise Busy(RESTARTING) from None

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
        process's build and memory, and why a newer build could not be loaded, if one could not; the
        questions waiting or being answered, the running estimate of one's seconds, the answers cached."""
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
            "service_ms": round(self.service * 1000, 1),
            "cached": len(self.answers) if self.answers is not None else None,
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
