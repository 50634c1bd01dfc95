"""What keeps one server within its machine: a bounded decision queue, the decision cache, their metrics.

* :class:`DecisionQueue` admits at most ``max_queue`` routing decisions at once (waiting or being
  scored). A request past it gets a 503 ``router_queue_full`` with ``Retry-After`` at once: under
  overload clients back off instead of waiting without bound (the queue would only grow, and every
  request in it would time out).
* :func:`attach_caches` gives each router a :class:`~routellm_core.decision_cache.DecisionCache`
  when the config asks for one (``decision_cache: N``).
* :class:`CapacityCollector` puts the queue depth and the cache's hits, misses and hit rate in /metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..decision_cache import DecisionCache, attach_decision_cache
from ..routers.base import Router
from .errors import APIError


class DecisionQueue:
    """Counts decisions in progress; :meth:`slot` raises a 503 when ``limit`` are already in."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.depth = 0
        self.rejected = 0

    @contextmanager
    def slot(self, router_label: str, workers: int, seconds_per_decision: float = 0.02) -> Iterator[None]:
        if self.depth >= self.limit:
            self.rejected += 1
            # the time the queue ahead needs to drain, rounded up to whole seconds (at least 1)
            wait = max(1, math.ceil(self.depth * seconds_per_decision / max(1, workers)))
            raise APIError(503, f"router {router_label!r} has {self.depth} decisions queued (max_queue "
                                f"{self.limit}); retry after {wait}s", type="server_error",
                           code="router_queue_full", headers={"retry-after": str(wait)})
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1


def attach_caches(routers: dict[str, Router], size: int) -> dict[str, DecisionCache]:
    """One exact-text decision cache of ``size`` texts per router (none when size is 0)."""
    caches: dict[str, DecisionCache] = {}
    if size:
        for key, router in routers.items():
            caches[key] = DecisionCache(size)
            attach_decision_cache(router, caches[key])
    return caches


class CapacityCollector(Collector):
    """Queue depth, rejections and decision-cache counters, read when /metrics is scraped."""

    def __init__(self, queue: DecisionQueue, caches: dict[str, DecisionCache]) -> None:
        self.queue, self.caches = queue, caches

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily("routellm_decision_queue_depth", "Routing decisions waiting or being scored now",
                                value=self.queue.depth)
        yield GaugeMetricFamily("routellm_decision_queue_limit", "max_queue: decisions admitted at once",
                                value=self.queue.limit)
        yield CounterMetricFamily("routellm_decision_queue_rejected", "Requests answered 503 because the queue "
                                  "was full", value=self.queue.rejected)
        if not self.caches:
            return
        hits = CounterMetricFamily("routellm_decision_cache_hits", "Decisions answered from the cache", labels=["router"])
        misses = CounterMetricFamily("routellm_decision_cache_misses", "Decisions the router had to score",
                                     labels=["router"])
        rate = GaugeMetricFamily("routellm_decision_cache_hit_rate", "hits / (hits + misses) since start",
                                 labels=["router"])
        size = GaugeMetricFamily("routellm_decision_cache_entries", "Texts held in the cache", labels=["router"])
        for key, cache in self.caches.items():
            hits.add_metric([key], cache.hits)
            misses.add_metric([key], cache.misses)
            rate.add_metric([key], cache.hit_rate)
            size.add_metric([key], len(cache))
        yield from (hits, misses, rate, size)
