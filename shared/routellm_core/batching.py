"""Scoring off the event loop, with concurrent requests batched into router calls.

Router scoring is CPU work (embedding + a matrix product), so it runs in worker threads: the
event loop keeps serving streams meanwhile. Texts that arrive while the workers are busy are scored
together in the next call, which is how a CPU router keeps up with many concurrent clients. No
task outlives its work: drain tasks run only while texts are queued, so closing a loop (a test,
a server shutdown) leaves nothing pending.

One worker by default. A server sets :func:`set_scoring_workers` to its cores: a router whose
embedder is safe to run from several threads at once (the float32 MiniLM paths: ONNX Runtime and
numpy release the GIL, each prompt is its own run) is then scored by that many batches in parallel,
so a two-core machine encodes two prompts at a time. Other routers (torch models, custom
embedders) stay serialised by their :func:`~routellm_core.routers.base.scoring_lock`. A prompt is
scored alone or in any batch with the same result, so neither the batch nor the worker changes a
decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .decision_cache import decision_cache_of
from .routers.base import Router, scoring_lock

_executor: ThreadPoolExecutor | None = None
_executor_workers = 1
_executor_lock = threading.Lock()


def set_scoring_workers(workers: int) -> None:
    """Threads that score routers in this process (the server: one per core); takes effect for new batches."""
    global _executor, _executor_workers
    workers = max(1, int(workers))
    with _executor_lock:
        if workers != _executor_workers:
            old, _executor, _executor_workers = _executor, None, workers
            if old is not None:
                old.shutdown(wait=False)  # running batches finish; new ones go to the new pool


def scoring_workers() -> int:
    return _executor_workers


def router_executor() -> ThreadPoolExecutor:
    """The threads that run async router scoring in this process."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_executor_workers, thread_name_prefix="routellm-router")
        return _executor


def parallel_safe(router: Router) -> bool:
    """Whether ``router`` may score batches on several threads at once (its embedder says so).

    A router that names its embedder (``"minilm"``, as the libraries' default does) scores with the
    shared instance of that name, so that instance is asked.
    """
    embedder = getattr(router, "embedder", None)
    if isinstance(embedder, str):
        from .embeddings import get_embedder

        embedder = get_embedder(embedder)
    return bool(getattr(embedder, "parallel_safe", False))


def _score(router: Router, texts: list[str], locked: bool) -> np.ndarray:
    with scoring_lock(router) if locked else contextlib.nullcontext():  # sync callers may score the same router
        return router.predict_proba(texts)


class _Batcher:
    """Texts waiting to be scored by one router on one event loop (it holds neither, so both can be freed)."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, asyncio.Future[float]]] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def score(self, router: Router, texts: list[str], max_batch: int) -> list[float]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in texts]
        self.pending.extend(zip(texts, futures, strict=True))
        self.tasks = {t for t in self.tasks if not t.done()}
        lanes = scoring_workers() if parallel_safe(router) else 1
        while len(self.tasks) < lanes and len(self.tasks) < len(self.pending):
            task = loop.create_task(self._drain(router, max_batch, lanes), name=f"routellm-score-{router.name}")
            self.tasks.add(task)
        return list(await asyncio.gather(*futures))

    async def _drain(self, router: Router, max_batch: int, lanes: int) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            size = min(max_batch, math.ceil(len(self.pending) / lanes))  # share the queue among the lanes
            batch, self.pending = self.pending[:size], self.pending[size:]
            batch = [(t, f) for t, f in batch if not f.done()]  # callers that went away (timeouts)
            if not batch:
                continue
            try:
                probs = await loop.run_in_executor(router_executor(), _score, router, [t for t, _ in batch],
                                                   lanes == 1)
            except Exception as exc:  # noqa: BLE001 -- every waiting caller gets the router's error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), p in zip(batch, probs, strict=True):
                if not future.done():
                    future.set_result(float(p))


_batchers: weakref.WeakKeyDictionary[Router, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher]] = (
    weakref.WeakKeyDictionary())
_batchers_lock = threading.Lock()


async def _batched(router: Router, texts: list[str], max_batch: int) -> list[float]:
    loop = asyncio.get_running_loop()
    with _batchers_lock:
        per_loop = _batchers.setdefault(router, weakref.WeakKeyDictionary())
        batcher = per_loop.get(loop)
        if batcher is None:
            batcher = per_loop[loop] = _Batcher()
    return await batcher.score(router, texts, max(1, int(max_batch)))


async def score_async(router: Router, texts: list[str], max_batch: int = 256) -> list[float]:
    """P(strong wins) for ``texts``, scored in the router threads together with concurrent callers' texts.

    With a :class:`~routellm_core.decision_cache.DecisionCache` attached to ``router``, texts seen
    before are answered from it (the same floats) and only the others are scored.
    """
    cache = decision_cache_of(router)
    if cache is None:
        return await _batched(router, texts, max_batch)
    known: dict[str, float] = {}
    for text in texts:
        if text not in known and (p := cache.get(text)) is not None:
            known[text] = p
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    if missing:
        for text, p in zip(missing, await _batched(router, missing, max_batch), strict=True):
            cache.put(text, p)
            known[text] = p
    return [known[t] for t in texts]
