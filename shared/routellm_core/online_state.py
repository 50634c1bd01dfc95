"""Where an online window is kept: in this process (default), or in Redis for all replicas.

:class:`~routellm_core.online.OnlineThreshold` decides each request from a small state: the last
``M`` scores, the last ``N - 1`` strong/weak outcomes and a few counters (:class:`WindowState`);
:class:`~routellm_core.online_budget.OnlineBudget` from the last ``M`` scored prompts' threat and
cost rows and the last ``N - 1`` spends (:class:`~routellm_core.online_budget.BudgetState`). Both
are :class:`PlainState`: they turn into, and back from, lists and counters of plain numbers.
A *state store* holds one such state:

- :class:`LocalStore` (the default): one state in this process, shared by its threads.
- :class:`RedisStore` (``RoutingPolicy(..., online_state="redis://127.0.0.1:6379/0")``, server:
  ``online.<name>.redis_url`` or ``multi_model.redis_url``): the state lives in Redis, so every
  replica that names the same Redis, key, window and target (or budget and candidates) decides
  from, and records into, one window. Each batch of decisions
  is made under a Redis lock (``SET NX PX``, released by token): the state is read, the decisions
  are made exactly as in one process, and the new state is written back in one ``MULTI``. The
  order of decisions is the order in which replicas take the lock, and the window bound holds for
  every ``N`` consecutive decisions in that order, over all replicas together.

When Redis cannot be reached (an error, ``timeout`` seconds, or the lock not free within
``lock_wait`` seconds), a ``RedisStore`` decides on this replica's own local state from then on (a
warning log line, ``on_fallback()`` called once per outage: the server's
``routellm_online_redis_fallbacks_total`` and ``routellm_online_redis_up``), and tries Redis again
every ``retry_seconds``. During an outage each replica keeps the bound over its own decisions only.
Stored values are plain strings (floats, ``0``/``1``, integers, comma-separated floats): nothing is
pickled.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from .errors import InvalidInputError

log = logging.getLogger("routellm_core.online")


class PlainState:
    """A window state a store can hold: its lists and counters as plain-number strings, and back."""

    kind = "online window"  # for log lines
    lists: tuple[str, ...] = ()  # the names of its lists (one Redis list each)
    window: int

    @property
    def shape(self) -> tuple[Any, ...]:
        """What two states must share to be one window (a store is made for one shape)."""
        raise NotImplementedError

    def dump(self) -> tuple[dict[str, list[str]], dict[str, str]]:
        """The lists (by name, oldest first) and the counters, as strings of plain numbers."""
        raise NotImplementedError

    def restore(self, lists: Mapping[str, list[str]], counts: Mapping[str, str]) -> None:
        """Fill this fresh state from what :meth:`dump` wrote (missing entries: an empty window)."""
        raise NotImplementedError


State = TypeVar("State", bound=PlainState)


def stored_float(text: str, *, finite: bool = True) -> float:
    """A stored number read back; ``ValueError`` naming it when it is not one (or not finite)."""
    value = float(text)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def stored_count(text: str) -> int:
    """A stored counter read back; ``ValueError`` naming it when it is not a whole number >= 0."""
    value = int(text)
    if value < 0:
        raise ValueError(f"counter {text!r} is negative")
    return value


def stored_flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"outcome {text!r} is neither 0 nor 1")
    return text == "1"


class WindowState(PlainState):
    """The last decisions of one online threshold: recent scores and strong/weak outcomes."""

    kind = "online threshold"
    lists = ("scores", "recent")

    def __init__(self, window: int, score_window: int) -> None:
        self.window = window
        self.scores: deque[float] = deque(maxlen=score_window)
        self.recent: deque[bool] = deque(maxlen=window - 1)  # the last N-1 outcomes
        self.strong_recent = 0
        self.total = 0  # decisions counted so far
        self.strong_first = 0  # strong decisions among the first N
        self.forced = {"strong": 0, "weak": 0}

    @property
    def shape(self) -> tuple[Any, ...]:
        return (self.kind, self.window, self.scores.maxlen)

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

    def dump(self) -> tuple[dict[str, list[str]], dict[str, str]]:
        lists = {"scores": [repr(float(s)) for s in self.scores], "recent": ["1" if r else "0" for r in self.recent]}
        counts = {"total": self.total, "strong_first": self.strong_first, "forced_strong": self.forced["strong"],
                  "forced_weak": self.forced["weak"]}
        return lists, {k: str(v) for k, v in counts.items()}

    def restore(self, lists: Mapping[str, list[str]], counts: Mapping[str, str]) -> None:
        self.scores.extend(stored_float(s) for s in lists.get("scores", []))  # the deques keep the newest
        self.recent.extend(stored_flag(r) for r in lists.get("recent", []))
        self.strong_recent = sum(self.recent)
        self.total, self.strong_first = stored_count(counts.get("total", "0")), stored_count(counts.get("strong_first", "0"))
        self.forced = {"strong": stored_count(counts.get("forced_strong", "0")),
                       "weak": stored_count(counts.get("forced_weak", "0"))}


class LocalStore(Generic[State]):
    """One state in this process (the threads and event loops using the policy share it)."""

    shared = False

    def __init__(self, new_state: Callable[[], State]) -> None:
        self.new_state = new_state
        self.local = new_state()
        self.lock = threading.RLock()

    @contextmanager
    def session(self) -> Iterator[State]:
        """The state to decide on, held for the caller alone until the block ends."""
        with self.lock:
            yield self.local

    def peek(self) -> State:
        return self.local


class _Unavailable(Exception):
    """Redis could not be used for this batch (error, timeout, lock not free)."""


class RedisStore(LocalStore[State]):
    """The window in Redis, shared by every replica using the same URL, key and window settings."""

    shared = True

    def __init__(self, new_state: Callable[[], State], url: str, key: str = "routellm:online", *,
                 timeout: float = 0.5, retry_seconds: float = 5.0, lock_wait: float | None = None,
                 lock_lease: float = 5.0, on_fallback: Callable[[], None] | None = None,
                 on_up: Callable[[bool], None] | None = None, client: Any = None) -> None:
        super().__init__(new_state)
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
        self.key = f"{key}:n{self.local.window}"
        self.timeout, self.retry_seconds = float(timeout), float(retry_seconds)
        self.lock_wait = float(lock_wait if lock_wait is not None else max(2.0, 4 * timeout))
        self.lock_lease = float(lock_lease)
        self.on_fallback, self.on_up = on_fallback, on_up
        self.down_since: float | None = None
        self.fallbacks = 0
        if on_up:
            on_up(True)

    # --- (de)serialising the state -------------------------------------------------------------
    def _load(self) -> State:
        names = self.local.lists
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.lrange(f"{self.key}:{name}", 0, -1)
        pipe.hgetall(f"{self.key}:counts")
        *lists, counts = pipe.execute()
        state = self.new_state()
        try:
            state.restore({name: [_text(v) for v in values] for name, values in zip(names, lists, strict=True)},
                          {_text(k): _text(v) for k, v in counts.items()})
        except (ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
            # not what a replica wrote (another program, a hand edit): decide locally, leave it for inspection
            raise _Unavailable(f"the data under Redis key {self.key!r} is not an {state.kind} window: {exc}") from exc
        return state

    def _store(self, state: State) -> None:
        lists, counts = state.dump()
        pipe = self.client.pipeline(transaction=True)
        for name, values in lists.items():
            pipe.delete(f"{self.key}:{name}")
            if values:
                pipe.rpush(f"{self.key}:{name}", *values)
        pipe.hset(f"{self.key}:counts", mapping=counts)
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
            log.warning("%s: Redis unavailable (%s); deciding on this replica's local window", self.local.kind, exc)
            self.fallbacks += 1
            if self.on_fallback:
                self.on_fallback()
            if self.on_up:
                self.on_up(False)
        self.down_since = time.monotonic()

    @contextmanager
    def session(self) -> Iterator[State]:
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
                log.warning("%s: Redis is back; deciding on the shared window again", self.local.kind)
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

    def peek(self) -> State:
        """The shared state as stored now (the local one while Redis is lost): for monitoring."""
        import redis

        if self._usable():
            try:
                return self._load()
            except (redis.RedisError, OSError, _Unavailable) as exc:
                self._lost(exc)
        return self.local

    def clear(self) -> None:
        """Forget the shared window (all replicas start a new first window)."""
        self.client.delete(*(f"{self.key}:{n}" for n in (*self.local.lists, "counts", "lock")))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def make_store(spec: Any, new_state: Callable[[], State], scope: str) -> LocalStore[State]:
    """The state store ``online_state`` names: None (this process), a ``redis://`` URL, a mapping of
    :class:`RedisStore` settings (``url``, ``key``, ``timeout``, ``retry_seconds``, ``on_fallback``, ...),
    or a store made for this window. ``scope`` is added to the Redis key (what the window keeps)."""
    if spec is None:
        return LocalStore(new_state)
    if isinstance(spec, LocalStore):
        have, want = spec.local, new_state()
        if have.shape != want.shape:
            raise InvalidInputError(f"online_state was made for another window ({have.kind}, {have.window} "
                                    f"decisions), not this {want.kind} of {want.window}")
        return spec
    if isinstance(spec, str):
        spec = {"url": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("url"), str):
        raise InvalidInputError(f"online_state must be a redis:// URL, a mapping with 'url' or a state store, "
                                f"got {spec!r}")
    settings = dict(spec)
    url = settings.pop("url")
    key = f"{settings.pop('key', 'routellm:online')}:{scope}"
    try:
        return RedisStore(new_state, url, key, **settings)
    except TypeError as exc:
        raise InvalidInputError(f"online_state: {exc}") from None
