"""Model names -> (router, threshold), and routing decisions scored off the event loop.

Router scoring is CPU work (embedding + a matrix product), so it runs in one worker thread: the
event loop keeps serving streams meanwhile. Requests that arrive while the thread is busy are
scored together in the next batch, which is how a CPU router keeps up with many concurrent clients.
One thread per process also means an embedder (with its LRU cache) is never used by two threads at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import RouteLLMError
from ..routers.base import Router, RoutingDecision, check_prompts, check_threshold
from ..routers.registry import load_router
from .config import ServerConfig
from .errors import APIError, ConfigError, bad_request

MODEL_PREFIX = "router-"


@dataclass(frozen=True, slots=True)
class Target:
    """What a request's ``model`` field asks for."""

    router: str  # key in config.routers
    threshold: float


def prompt_from_messages(messages: list[dict[str, Any]]) -> str:
    """The text the router scores: the last user message (RouteLLM routes on the latest query)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            text = _content_text(message.get("content"))
            if text.strip():
                return text
    raise bad_request("messages contain no user message with text to route on", param="messages")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type", "text") == "text")
    return ""


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def router_executor() -> ThreadPoolExecutor:
    """The one thread that runs router scoring in this process (embedders are not thread-safe)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routellm-router")
        return _executor


_MINILM_SPECS = {"minilm", "all-MiniLM-L6-v2", "all-minilm-l6-v2"}
_memory_embedders: dict[str, Any] = {}


def use_memory_embedder(router: Router) -> None:
    """Give a router that embeds with the default (disk-cached) MiniLM an in-memory-only instance.

    The default embedder keeps every new text's vector in a disk cache that is scanned on each miss:
    right for training and evaluation, wrong for a server whose prompts never repeat (the cache
    would grow by a file per batch and get slower). One such embedder is shared per process.
    """
    from ..routers.embedding_router import EmbeddingRouter

    if isinstance(router, EmbeddingRouter) and isinstance(router.embedder, str) and router.embedder in _MINILM_SPECS:
        if "minilm" not in _memory_embedders:
            from ..embeddings.minilm import NumpyEncoderEmbedder  # the library's default: same probabilities

            _memory_embedders["minilm"] = NumpyEncoderEmbedder(cache_size=4096)
        router.embedder = _memory_embedders["minilm"]


class _Batcher:
    """Queue of (prompt, future) for one router; a task scores whatever is queued in one call."""

    def __init__(self, router: Router, executor: ThreadPoolExecutor, max_batch: int) -> None:
        self.router, self.executor, self.max_batch = router, executor, max_batch
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[float]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def score(self, prompt: str) -> float:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            if self._loop is not loop:
                self._queue = asyncio.Queue()
            self._loop = loop
            self._task = loop.create_task(self._run(), name=f"routellm-batcher-{self.router.name}")
        assert self._queue is not None
        future: asyncio.Future[float] = loop.create_future()
        self._queue.put_nowait((prompt, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None and self._loop is not None
        queue, loop = self._queue, self._loop
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            batch = [(p, f) for p, f in batch if not f.done()]  # callers that went away
            if not batch:
                continue
            try:
                probs = await loop.run_in_executor(self.executor, self.router.predict_proba, [p for p, _ in batch])
            except Exception as exc:  # hand the router's error to every waiting request
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), prob in zip(batch, probs):
                if not future.done():
                    future.set_result(float(prob))

    async def close(self) -> None:
        if self._task is not None and not self._task.done() and self._loop is asyncio.get_running_loop():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


class RouterPool:
    """The routers named in the config, loaded once, and the model names that select them."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.routers: dict[str, Router] = {}
        for key, spec in config.routers.items():
            try:
                self.routers[key] = load_router(spec.source, cache=False, **spec.options)
                if not config.embedding_disk_cache:
                    use_memory_embedder(self.routers[key])
            except RouteLLMError as exc:
                raise ConfigError(f"router {key!r} ({spec.source}): {exc}") from None
            except TypeError as exc:
                raise ConfigError(f"router {key!r}: bad options {spec.options}: {exc}") from None
        self.executor = router_executor()
        self._batchers = {key: _Batcher(r, self.executor, config.max_batch) for key, r in self.routers.items()}

    def warm_up(self) -> None:
        """Score one prompt per router now (loads the embedder) so the first request is not slow."""
        for key, router in self.routers.items():
            try:
                self.executor.submit(router.predict_proba, ["Warm-up prompt: what is the capital of France?"]).result()
            except RouteLLMError as exc:
                raise ConfigError(f"router {key!r} cannot score prompts: {exc}") from None

    def model_names(self) -> list[str]:
        """Names for /v1/models: aliases, and router-<key>-<threshold> for routers with a default threshold."""
        names = list(self.config.aliases)
        names += [f"{MODEL_PREFIX}{k}-{s.threshold:g}" for k, s in self.config.routers.items() if s.threshold is not None]
        return names

    def resolve(self, model: Any) -> Target:
        """``router-<key>-<threshold>`` or an alias -> Target; anything else is a 400 naming the problem."""
        if not isinstance(model, str) or not model.strip():
            raise bad_request("'model' must be a non-empty string such as "
                              f"'{MODEL_PREFIX}{next(iter(self.routers))}-0.5'", param="model")
        if model in self.config.aliases:
            alias = self.config.aliases[model]
            return Target(alias.router, alias.threshold)
        if not model.startswith(MODEL_PREFIX):
            known = ", ".join(self.model_names()) or "none configured"
            raise bad_request(f"unknown model {model!r}: use '{MODEL_PREFIX}<router>-<threshold>' "
                              f"(routers: {', '.join(self.routers)}) or an alias ({known})",
                              param="model", code="model_not_found")
        rest = model[len(MODEL_PREFIX):]
        if rest in self.routers:
            raise bad_request(f"model {model!r} lacks a threshold: use '{model}-<threshold>', "
                              "a number in [0, 1]", param="model")
        keys = [k for k in self.routers if rest.startswith(k + "-")]  # router keys may contain '-'
        if not keys:
            name = rest.rpartition("-")[0] or rest
            raise bad_request(f"unknown router {name!r} in model {model!r}; configured routers: "
                              f"{', '.join(self.routers)}", param="model", code="model_not_found")
        key = max(keys, key=len)
        threshold = rest[len(key) + 1:]
        try:
            value = check_threshold(threshold)
        except RouteLLMError:
            raise bad_request(f"threshold {threshold!r} in model {model!r} is not a number in [0, 1]",
                              param="model") from None
        return Target(key, value)

    async def decide(self, target: Target, prompt: str) -> tuple[RoutingDecision, float]:
        """The routing decision and the seconds it took (queueing included)."""
        try:
            check_prompts([prompt])
        except RouteLLMError as exc:
            raise bad_request(str(exc), param="messages") from None
        start = time.perf_counter()
        try:
            prob = await asyncio.wait_for(self._batchers[target.router].score(prompt), self.config.routing_timeout)
        except TimeoutError:
            raise APIError(503, f"router {target.router!r} is overloaded: no decision within "
                                f"{self.config.routing_timeout:g}s; retry later", type="server_error",
                           code="router_overloaded", headers={"retry-after": "1"}) from None
        except RouteLLMError as exc:
            raise bad_request(f"router {target.router!r} cannot route this prompt: {exc}") from None
        elapsed = time.perf_counter() - start
        role = "strong" if prob >= target.threshold else "weak"
        return RoutingDecision(role, prob, target.threshold, target.router), elapsed

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()

