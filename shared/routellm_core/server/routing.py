"""The server's routers: loaded once from the config, and the policy each request's model name selects.

A request's ``model`` selects one :class:`~routellm_core.RoutingPolicy`: ``router-<key>-<threshold>``
or an alias (a strong/weak pair, parsed by the engine's ``parse_model_name``), the multi-model name
(``router-multi``: the price rule over the configured candidates), or ``cascade`` /
``cascade-<escalate threshold>``. The decision is the policy's ``adecide``, which scores in one
worker thread and batches requests that arrive while it is busy. Errors keep OpenAI's shape: a bad
model name or prompt is a 400, a router that cannot keep up a 503 (past ``max_queue`` waiting decisions
at once, with ``Retry-After``: :mod:`.capacity`).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from ..batching import router_executor, scoring_workers, set_scoring_workers
from ..decision import Decision
from ..errors import RouteLLMError
from ..multi_model import Candidate
from ..policy import MODEL_PREFIX, ModelNameError, RoutingPolicy, openai_turns, parse_model_name, turns_text
from ..pricing import Price
from ..routers.base import Router, check_threshold
from ..routers.registry import load_router
from .capacity import DecisionQueue, attach_caches
from .config import ServerConfig
from .errors import APIError, ConfigError, bad_request

__all__ = ["CASCADE_MODEL", "MODEL_PREFIX", "RouterPool", "prompt_from_messages", "use_memory_embedder"]
CASCADE_MODEL = "cascade"


def prompt_from_messages(messages: list[dict[str, Any]]) -> str:
    """The text the router scores: the last user message with text (the policy's ``last_user`` rule)."""
    text = turns_text(openai_turns(messages), "last_user")
    if not text.strip():
        raise bad_request("messages contain no user message with text to route on", param="messages")
    return text


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
            from ..embeddings.registry import default_minilm_class  # the library's default: same probabilities

            _memory_embedders["minilm"] = default_minilm_class()(cache_size=4096)
        router.embedder = _memory_embedders["minilm"]


class RouterPool:
    """The routers named in the config, loaded once, and the model names that select them."""

    def __init__(self, config: ServerConfig, metrics: Any = None) -> None:
        self.config = config
        self.metrics = metrics
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
        # the machine's cores encode prompts in parallel (MiniLM routers; docs/performance.md)
        set_scoring_workers(config.scoring_workers or os.cpu_count() or 1)
        self.executor = router_executor()
        self.queue = DecisionQueue(config.max_queue)
        self.caches = attach_caches(self.routers, config.decision_cache)
        self.feedback = self._feedback()
        self.multi = self._multi_policy()
        self.cascade = self._cascade_policy()
        self.online = self._online_policies()

    def _online_policies(self) -> dict[str, RoutingPolicy]:
        """One online-threshold policy per configured name, kept for the server's life (it holds the window)."""
        out = {}
        for name, online in self.config.online.items():
            try:
                out[name] = RoutingPolicy(self.routers[online.router], strong_fraction=online.strong_fraction,
                                          calibration_prompts=tuple(online.calibration_prompts),
                                          online_window=online.online_window, fallback=self.config.fallback,
                                          max_batch=self.config.max_batch, label=online.router,
                                          reroute_guard=self.config.reroute_guard,
                                          online_state=self._online_state(name, online)).resolve()
            except RouteLLMError as exc:
                raise ConfigError(f"online model {name!r}: {exc}") from None
        return out

    def _online_state(self, name: str, online: Any) -> dict[str, Any] | None:
        """Where the online window (threshold or budget) of model ``name`` lives: Redis (shared by the
        replicas) or None (this replica)."""
        if online.redis_url is None:
            return None
        spec: dict[str, Any] = {"url": online.redis_url, "key": f"{online.redis_key}:{name}",
                                "timeout": online.redis_timeout, "retry_seconds": online.redis_retry_seconds}
        if self.metrics is not None:
            spec["on_fallback"] = self.metrics.online_redis_fallbacks.labels(name).inc
            spec["on_up"] = lambda up, gauge=self.metrics.online_redis_up.labels(name): gauge.set(1 if up else 0)
        return spec

    def _feedback(self) -> Any:
        """The recorder every policy of this server remembers its answers in (None: no feedback endpoint)."""
        if self.config.feedback is None:
            return None
        from ..feedback_log import FeedbackRecorder

        try:
            return FeedbackRecorder(self.config.feedback.store)
        except (RouteLLMError, OSError) as exc:
            raise ConfigError(f"feedback store {self.config.feedback.store!r}: {exc}") from None

    @property
    def _pair_options(self) -> dict[str, Any]:
        """Settings every strong/weak policy of this server shares (feedback and exploration)."""
        explore = self.config.feedback.explore if self.config.feedback else 0.0
        return {"fallback": self.config.fallback, "feedback": self.feedback, "explore": explore}

    def _multi_policy(self) -> RoutingPolicy | None:
        """The price rule over the ``multi_model`` candidates (router-multi), loaded and calibrated now."""
        multi = self.config.multi_model
        if multi is None:
            return None
        try:
            candidates = [Candidate(name, Price(c.price[0], c.price[-1]), c.output_tokens, c.router_model)
                          for name, c in multi.models.items()]
            return RoutingPolicy(self.routers[multi.router], threshold=multi.threshold, candidates=candidates,
                                 top_fraction=multi.top_fraction, budget_per_1k=multi.budget_per_1k,
                                 calibration_prompts=tuple(multi.calibration_prompts), fallback=self.config.fallback,
                                 label=multi.router, feedback=self.feedback, online_window=multi.online_window,
                                 online_state=self._online_state(multi.name, multi) if multi.online_window else None
                                 ).resolve()
        except RouteLLMError as exc:
            raise ConfigError(f"multi_model: {exc}") from None

    def _cascade_policy(self, escalate_threshold: float | None = None) -> RoutingPolicy | None:
        """``cascade`` as configured (or with another escalate threshold, sharing the loaded scorer)."""
        settings = self.config.cascade
        if settings is None:
            return None
        base = getattr(self, "cascade", None)
        scorer = base.strategy.resolved_scorer() if base is not None else settings.scorer
        threshold = settings.escalate_threshold if escalate_threshold is None else escalate_threshold
        try:
            cascade = {"scorer": scorer, "escalate_threshold": threshold}
            router = self.routers[settings.router] if settings.router is not None else None
            return RoutingPolicy(router or "cascade", threshold=settings.threshold if router else None,
                                 max_batch=self.config.max_batch, label=settings.router, cascade=cascade,
                                 **self._pair_options).resolve()
        except RouteLLMError as exc:
            raise ConfigError(f"cascade: {exc}") from None

    def warm_up(self) -> None:
        """Score one prompt per router now (loads the embedder) so the first request is not slow."""
        for key, router in self.routers.items():
            try:
                self.executor.submit(router.predict_proba, ["Warm-up prompt: what is the capital of France?"]).result()
            except RouteLLMError as exc:
                raise ConfigError(f"router {key!r} cannot score prompts: {exc}") from None

    def _defaults(self) -> dict[str, float]:
        return {k: s.threshold for k, s in self.config.routers.items() if s.threshold is not None}

    def model_names(self) -> list[str]:
        """Names for /v1/models: aliases and router-<key>-<threshold> (pair), cascade names, the multi-model name."""
        names = []
        if self.config.has_pair:
            names += list(self.config.aliases) + [f"{MODEL_PREFIX}{k}-{t:g}" for k, t in self._defaults().items()]
        if self.cascade is not None:
            names += [CASCADE_MODEL, f"{CASCADE_MODEL}-{self.cascade.strategy.resolved_threshold():g}"]
        if self.config.multi_model is not None:
            names.append(self.config.multi_model.name)
        return names + list(self.online)

    def policy(self, model: Any) -> RoutingPolicy:
        """The policy a ``model`` field selects; a name that selects none is a 400 naming the problem."""
        multi = self.config.multi_model
        if self.multi is not None and multi is not None and model == multi.name:
            return self.multi
        if isinstance(model, str) and model in self.online:
            return self.online[model]
        if self.cascade is not None and isinstance(model, str) and \
                (model == CASCADE_MODEL or model.startswith(CASCADE_MODEL + "-")):
            return self._cascade_for(model)
        if not self.config.has_pair:
            served = multi.name if multi else "none"
            raise bad_request(f"model {model!r} is not served: this server has no strong/weak upstreams and routes "
                              f"only among its multi_model candidates (model {served!r})", param="model",
                              code="model_not_found")
        aliases = {name: (a.router, a.threshold) for name, a in self.config.aliases.items()}
        try:
            key, threshold = parse_model_name(model, list(self.routers), aliases, self._defaults())
        except ModelNameError as exc:
            raise bad_request(str(exc), param="model", code=exc.code) from None
        return RoutingPolicy(self.routers[key], threshold=threshold, max_batch=self.config.max_batch, label=key,
                             reroute_guard=self.config.reroute_guard, **self._pair_options)

    def _cascade_for(self, model: str) -> RoutingPolicy:
        """``cascade`` as configured, or ``cascade-<t>`` with escalate threshold t (the scorer is shared)."""
        assert self.cascade is not None
        if model == CASCADE_MODEL:
            return self.cascade
        raw = model[len(CASCADE_MODEL) + 1:]
        try:
            threshold = check_threshold(raw)
        except RouteLLMError:
            raise bad_request(f"escalate threshold {raw!r} in model {model!r} is not a number in [0, 1]",
                              param="model") from None
        policy = self._cascade_policy(threshold)
        assert policy is not None
        return policy

    async def decide(self, policy: RoutingPolicy, prompt: str) -> tuple[Decision, float]:
        """The routing decision and the seconds it took (queueing included)."""
        start = time.perf_counter()
        try:
            with self.queue.slot(policy.router_label, scoring_workers()):  # a 503 past max_queue
                decision = (await asyncio.wait_for(policy.adecide([prompt]), self.config.routing_timeout))[0]
        except TimeoutError:
            raise APIError(503, f"router {policy.router_label!r} is overloaded: no decision within "
                                f"{self.config.routing_timeout:g}s; retry later", type="server_error",
                           code="router_overloaded", headers={"retry-after": "1"}) from None
        except RouteLLMError as exc:
            raise bad_request(f"router {policy.router_label!r} cannot route this prompt: {exc}",
                              param="messages") from None
        return decision, time.perf_counter() - start

    async def close(self) -> None:
        """Nothing to stop: scoring tasks end when their queue is empty."""
