"""An exact-text decision cache: a bounded LRU of prompt text -> P(strong wins), one per router.

For traffic that repeats (the same FAQ question, a retried request). A hit returns the very float the
router returned for that text, and a router's probability for a text never depends on the other texts
of its batch (``tests/core/test_batch_invariance.py``), so a cached decision is exactly the decision
without the cache. Off by default; the server turns it on with ``decision_cache: N``.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from .routers.base import Router

__all__ = ["DecisionCache", "attach_decision_cache", "decision_cache_of"]


class DecisionCache:
    """At most ``size`` texts -> probability, least recently used evicted first; counts hits and misses."""

    def __init__(self, size: int) -> None:
        if int(size) < 1:
            raise ValueError(f"decision cache size must be >= 1, got {size}")
        self.size = int(size)
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, text: str) -> float | None:
        with self._lock:
            value = self._items.get(text)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(text)
            self.hits += 1
            return value

    def put(self, text: str, probability: float) -> None:
        with self._lock:
            self._items[text] = float(probability)
            self._items.move_to_end(text)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    @property
    def hit_rate(self) -> float:
        looked = self.hits + self.misses
        return self.hits / looked if looked else 0.0


_caches: weakref.WeakKeyDictionary[Router, DecisionCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def attach_decision_cache(router: Router, cache: DecisionCache | None) -> None:
    """Let async scoring of ``router`` (``batching.score_async``) answer repeated texts from ``cache`` (None: detach)."""
    with _caches_lock:
        if cache is None:
            _caches.pop(router, None)
        else:
            _caches[router] = cache


def decision_cache_of(router: Router) -> DecisionCache | None:
    with _caches_lock:
        return _caches.get(router)
