"""Scoring off the event loop, with concurrent requests batched into one router call.

Router scoring is CPU work (embedding + a matrix product), so it runs in one worker thread: the
event loop keeps serving streams meanwhile. Texts that arrive while the thread is busy are scored
together in the next call, which is how a CPU router keeps up with many concurrent clients. No
task outlives its work: a drain task runs only while texts are queued, so closing a loop (a test,
a server shutdown) leaves nothing pending.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .routers.base import Router, scoring_lock

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def router_executor() -> ThreadPoolExecutor:
    """The one thread that runs async router scoring in this process (embedders prefer one thread)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routellm-router")
        return _executor


def _score(router: Router, texts: list[str]) -> np.ndarray:
    with scoring_lock(router):  # sync callers on other threads may score the same router
        return router.predict_proba(texts)


class _Batcher:
    """Texts waiting to be scored by one router on one event loop (it holds neither, so both can be freed)."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, asyncio.Future[float]]] = []
        self.task: asyncio.Task[None] | None = None

    async def score(self, router: Router, texts: list[str], max_batch: int) -> list[float]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in texts]
        self.pending.extend(zip(texts, futures, strict=True))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._drain(router, max_batch), name=f"routellm-score-{router.name}")
        return list(await asyncio.gather(*futures))

    async def _drain(self, router: Router, max_batch: int) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending[:max_batch], self.pending[max_batch:]
            batch = [(t, f) for t, f in batch if not f.done()]  # callers that went away (timeouts)
            if not batch:
                continue
            try:
                probs = await loop.run_in_executor(router_executor(), _score, router, [t for t, _ in batch])
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


async def score_async(router: Router, texts: list[str], max_batch: int = 256) -> list[float]:
    """P(strong wins) for ``texts``, scored in the router thread together with concurrent callers' texts."""
    loop = asyncio.get_running_loop()
    with _batchers_lock:
        per_loop = _batchers.setdefault(router, weakref.WeakKeyDictionary())
        batcher = per_loop.get(loop)
        if batcher is None:
            batcher = per_loop[loop] = _Batcher()
    return await batcher.score(router, texts, max(1, int(max_batch)))
