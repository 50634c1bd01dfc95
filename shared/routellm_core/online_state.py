"""Where an online threshold keeps its window: in this process (default), or in Redis for all replicas.

:class:`~routellm_core.online.OnlineThreshold` decides each request from a small state: the last
``M`` scores, the last ``N - 1`` strong/weak outcomes and a few counters (:class:`WindowState`).
A *state store* holds that state:

- :class:`LocalStore` (the default): one ``WindowState`` in this process, shared by its threads.
- :class:`RedisStore` (``RoutingPolicy(..., online_state="redis://127.0.0.1:6379/0")``, server:
  ``online.<name>.redis_url``): the state lives in Redis, so every replica that names the same
  Redis, key, window and target decides from, and records into, one window. Each batch of decisions
  is made under a Redis lock (``SET NX PX``, released by token): the state is read, the decisions
  are made exactly as in one process, and the new state is written back in one ``MULTI``. The
  order of decisions is the order in which replicas take the lock, and the window bound holds for
  every ``N`` consecutive decisions in that order, over all replicas together.

When Redis cannot be reached (an error, ``timeout`` seconds, or the lock not free within
``lock_wait`` seconds), a ``RedisStore`` decides on this replica's own local state from then on (a
warning log line, ``on_fallback()`` called once per outage: the server's
``routellm_online_redis_fallbacks_total`` and ``routellm_online_redis_up``), and tries Redis again
every ``retry_seconds``. During an outage each replica keeps the bound over its own decisions only.
Stored values are plain strings (floats, ``0``/``1``, integers): nothing is pickled.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import InvalidInputError

log = logging.getLogger("routellm_core.online")


class WindowState:
    """The last decisions of one online threshold: recent scores and strong/weak outcomes."""

    def __init__(self, window: int, score_window: int) -> None:
        self.window = window
        self.scores: deque[float] = deque(maxlen=score_window)
        self.recent: deque[bool] = deque(maxlen=window - 1)  # the last N-1 outcomes
        self.strong_recent = 0
        self.total = 0  # decisions counted so far
        self.strong_first = 0  # strong decisions among the first N
        self.forced = {"strong": 0, "weak": 0}

    def share(self) -> float | None:
        """The realised strong share of the last N-1 decisions (None before the first decision)."""
        return self.strong_recent / len(self.recent) if self.recent else None

    def record(self, strong: bool) -> None:
        if len(self.recent) == self.recent.maxlen and self.recent[0]:
            self.strong_recent -= 1
        self.recent.append(strong)
        self.strong_recent += strong
        if self.total < self.window:
            self.strong_first += strong
        self.total += 1


class LocalStore:
    """One :class:`WindowState` in this process (the threads and event loops using the policy share it)."""

    shared = False

    def __init__(self, window: int, score_window: int) -> None:
        self.local = WindowState(window, score_window)
        self.lock = threading.RLock()

    @contextmanager
    def session(self) -> Iterator[WindowState]:
        """The state to decide on, held for the caller alone until the block ends."""
        with self.lock:
            yield self.local

    def peek(self) -> WindowState:
        return self.local


class _Unavailable(Exception):
    """Redis could not be used for this batch (error, timeout, lock not free)."""


class RedisStore(LocalStore):
    """The window in Redis, shared by every replica using the same URL, key, window and target."""

    shared = True

    def __init__(self, window: int, score_window: int, url: str, key: str = "routellm:online", *,
                 timeout: float = 0.5, retry_seconds: float = 5.0, lock_wait: float | None = None,
                 lock_lease: float = 5.0, on_fallback: Callable[[], None] | None = None,
                 on_up: Callable[[bool], None] | None = None, client: Any = None) -> None:
        super().__init__(window, score_window)
        if client is None:
            try:
                import redis
            except ImportError:
                raise InvalidInputError("online_state with a Redis URL needs the Redis client: "
                                        "pip install 'routellm-plugin[redis]'") from None
            if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
                raise InvalidInputError(f"online_state must be a redis:// URL or a state store, got {url!r}")
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.client, self.url = client, url
        self.key = f"{key}:n{window}"
        self.timeout, self.retry_seconds = float(timeout), float(retry_seconds)
        self.lock_wait = float(lock_wait if lock_wait is not None else max(2.0, 4 * timeout))
        self.lock_lease = float(lock_lease)
        self.score_window = score_window
        self.on_fallback, self.on_up = on_fallback, on_up
        self.down_since: float | None = None
        self.fallbacks = 0
        if on_up:
            on_up(True)

    # --- (de)serialising the state -------------------------------------------------------------
    def _load(self) -> WindowState:
        pipe = self.client.pipeline(transaction=False)
        pipe.lrange(f"{self.key}:scores", 0, -1)
        pipe.lrange(f"{self.key}:recent", 0, -1)
        pipe.hgetall(f"{self.key}:counts")
        scores, recent, counts = pipe.execute()
        state = WindowState(self.local.window, self.score_window)
        state.scores.extend(float(s) for s in scores[-self.score_window:])
        state.recent.extend(r in (b"1", "1") for r in recent[-(self.local.window - 1):])
        state.strong_recent = sum(state.recent)
        counts = {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in counts.items()}
        state.total, state.strong_first = counts.get("total", 0), counts.get("strong_first", 0)
        state.forced = {"strong": counts.get("forced_strong", 0), "weak": counts.get("forced_weak", 0)}
        return state

    def _store(self, state: WindowState) -> None:
        pipe = self.client.pipeline(transaction=True)
        for name, values in (("scores", [repr(float(s)) for s in state.scores]),
                             ("recent", ["1" if r else "0" for r in state.recent])):
            pipe.delete(f"{self.key}:{name}")
            if values:
                pipe.rpush(f"{self.key}:{name}", *values)
        pipe.hset(f"{self.key}:counts", mapping={"total": state.total, "strong_first": state.strong_first,
                                                 "forced_strong": state.forced["strong"],
                                                 "forced_weak": state.forced["weak"]})
        pipe.execute()

    # --- the lock -------------------------------------------------------------------------------
    def _acquire(self) -> str:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.lock_wait
        while not self.client.set(f"{self.key}:lock", token, nx=True, px=int(self.lock_lease * 1000)):
            if time.monotonic() > deadline:
                raise _Unavailable(f"the online state's lock was not free within {self.lock_wait:g}s")
            time.sleep(0.001)
        return token

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def _release(self, token: str) -> None:
        self.client.eval(self._RELEASE, 1, f"{self.key}:lock", token)

    def _usable(self) -> bool:
        return self.down_since is None or time.monotonic() - self.down_since >= self.retry_seconds

    def _lost(self, exc: BaseException) -> None:
        if self.down_since is None:
            log.warning("online threshold: Redis unavailable (%s); deciding on this replica's local window", exc)
            self.fallbacks += 1
            if self.on_fallback:
                self.on_fallback()
            if self.on_up:
                self.on_up(False)
        self.down_since = time.monotonic()

    @contextmanager
    def session(self) -> Iterator[WindowState]:
        """The shared state (locked in Redis for this block), or the local one while Redis is lost."""
        import redis

        with self.lock:
            state, token = None, None
            if self._usable():
                try:
                    token = self._acquire()
                    state = self._load()
                except (redis.RedisError, OSError, _Unavailable) as exc:
                    self._release_quietly(token)
                    self._lost(exc)
                    state, token = None, None
            if state is None:
                yield self.local
                return
            try:
                yield state
            except BaseException:
                self._release_quietly(token)
                raise
            try:
                self._store(state)
                self._release(str(token))
            except (redis.RedisError, OSError) as exc:  # the decisions stand; they are not in the shared window
                self._release_quietly(token)
                self._lost(exc)
                return
            if self.down_since is not None:
                log.warning("online threshold: Redis is back; deciding on the shared window again")
                self.down_since = None
                if self.on_up:
                    self.on_up(True)

    def _release_quietly(self, token: str | None) -> None:
        if token is None:
            return
        try:
            self._release(token)
        except Exception:  # noqa: BLE001 -- Redis is already failing; the lease expires by itself
            pass

    def peek(self) -> WindowState:
        """The shared state as stored now (the local one while Redis is lost): for monitoring."""
        import redis

        if self._usable():
            try:
                return self._load()
            except (redis.RedisError, OSError) as exc:
                self._lost(exc)
        return self.local

    def clear(self) -> None:
        """Forget the shared window (all replicas start a new first window)."""
        self.client.delete(*(f"{self.key}:{n}" for n in ("scores", "recent", "counts", "lock")))
