"""Spend caps per client key and time window, shared across replicas through Redis.

Config (``caps:`` in the server config)::

    caps:
      window_seconds: 60        # fixed windows aligned to the epoch (a new count every minute)
      strong_calls: 100         # at most this many strong calls per client key per window, or:
      dollars: 5.0              #   at most this many USD per key per window, with
      strong_call_usd: 0.02     #   the cost counted for one strong call
      over: weak                # past the cap: "weak" (route to the weak model) or "429"
      redis_url: redis://127.0.0.1:6379/0   # absent: this replica's own counters

A decision that routes a strong/weak request to the strong model takes one unit (a strong call,
or ``strong_call_usd`` in micro-dollars) from the key's window with one atomic ``INCRBY``; the
call passes when the new total is within the cap. Each passed call is counted exactly once, and
across replicas sharing one Redis at most the cap passes per key and window. Calls of the price
rule (``router-multi``) routed to any candidate but the cheapest count too: their estimated cost
(the chosen model's price on the prompt's tokens and its expected output) for a dollar cap, one call
for a strong-call cap; past the cap they go to the cheapest candidate (or get the 429), and a call
that did not fit is taken back from the count. Past the cap the
request goes to the weak model (or gets a 429 with ``retry-after``); the headers
``x-routellm-cap`` (``ok``, ``weak`` or ``429``) and ``x-routellm-cap-remaining`` say which.

When Redis cannot be reached (an error or ``redis_timeout`` seconds), the replica counts on its own
local counters from then on, raises ``routellm_caps_redis_fallbacks_total`` and sets
``routellm_caps_redis_up`` to 0 (a warning metric, and one log line), retrying Redis every
``redis_retry_seconds``. During an outage each replica enforces the cap by itself, so the replicas
together may pass up to (replicas x cap) in that window. Client keys are stored only as a SHA-256
prefix, never in clear.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..decision import Decision

log = logging.getLogger("routellm_core.server")


class CapsConfig(BaseModel):
    """Spend caps per client key and window (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    window_seconds: int = Field(60, ge=1)
    strong_calls: int | None = Field(None, ge=0, description="strong calls per key per window")
    dollars: float | None = Field(None, ge=0, allow_inf_nan=False, description="USD per key per window")
    strong_call_usd: float | None = Field(None, gt=0, allow_inf_nan=False, description="USD one strong call counts")
    over: Literal["weak", "429"] = Field("weak", description="what a call past the cap gets")
    redis_url: str | None = Field(None, description="redis://host:port/db shared by the replicas")
    redis_timeout: float = Field(0.5, gt=0)
    redis_retry_seconds: float = Field(5.0, ge=0)
    key_prefix: str = Field("routellm:caps", min_length=1)

    @model_validator(mode="after")
    def _one_cap(self) -> CapsConfig:
        if (self.strong_calls is None) == (self.dollars is None):
            raise ValueError("caps: give either strong_calls or dollars (with strong_call_usd)")
        if self.dollars is not None and self.strong_call_usd is None:
            raise ValueError("caps: dollars needs strong_call_usd (the cost counted for one strong call)")
        return self

    @property
    def limit_units(self) -> int:
        """The cap in counting units: strong calls, or micro-dollars."""
        return self.strong_calls if self.strong_calls is not None else round(float(self.dollars or 0) * 1e6)

    @property
    def units_per_call(self) -> int:
        return 1 if self.strong_calls is not None else round(float(self.strong_call_usd or 0) * 1e6)


@dataclass(frozen=True)
class CapResult:
    """What the cap did to one strong decision: ``ok``, ``weak`` (rerouted) or ``429``."""

    state: str
    remaining: int

    def headers(self) -> dict[str, str]:
        return {"x-routellm-cap": self.state, "x-routellm-cap-remaining": str(max(0, self.remaining))}


class SpendCaps:
    """Counts strong calls per client key and window, in Redis or (fallback, default) locally."""

    def __init__(self, config: CapsConfig, metrics: Any) -> None:
        self.config, self.metrics = config, metrics
        self._local: dict[str, int] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        self._redis_down_since: float | None = None
        if config.redis_url:
            try:
                import redis.asyncio as aioredis
            except ImportError:
                from .errors import ConfigError

                raise ConfigError("caps.redis_url needs the Redis client: pip install 'routellm-plugin[redis]'") from None

            self._redis = aioredis.from_url(config.redis_url, socket_timeout=config.redis_timeout,
                                            socket_connect_timeout=config.redis_timeout)
        metrics.caps_redis_up.set(1 if self._redis is not None else 0)

    def _key(self, client: str, now: float) -> tuple[str, int]:
        window = int(now // self.config.window_seconds)
        digest = hashlib.sha256(client.encode()).hexdigest()[:16]
        return f"{self.config.key_prefix}:{digest}:{window}", self.config.window_seconds - int(now) % self.config.window_seconds

    def _take_local(self, key: str, units: int) -> int:
        with self._lock:
            if len(self._local) > 100_000:  # old windows: drop them all (their counts no longer matter)
                self._local.clear()
            self._local[key] = self._local.get(key, 0) + units
            return self._local[key]

    async def _take(self, key: str, units: int, ttl: int) -> int:
        if self._redis is not None and (self._redis_down_since is None
                                        or time.monotonic() - self._redis_down_since >= self.config.redis_retry_seconds):
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incrby(key, units)
                    pipe.expire(key, ttl + 5)
                    total, _ = await pipe.execute()
                if self._redis_down_since is not None:
                    log.warning("spend caps: Redis is back; counting there again")
                    self._redis_down_since = None
                    self.metrics.caps_redis_up.set(1)
                return int(total)
            except Exception as exc:  # noqa: BLE001 -- any Redis failure: fall back, never fail the request
                if self._redis_down_since is None:
                    log.warning("spend caps: Redis unreachable (%s); using this replica's local counters", exc)
                    self.metrics.caps_redis_fallbacks.inc()
                self._redis_down_since = time.monotonic()
                self.metrics.caps_redis_up.set(0)
        return self._take_local(key, units)

    async def apply(self, client: str, decision: Decision) -> tuple[Decision, CapResult | None]:
        """The decision to run for ``client`` (rerouted to weak past the cap) and what the cap did.

        Strong/weak decisions routed strong count, and price-rule decisions (router-multi) routed to any
        candidate but the cheapest; others pass unchanged (None). Past the cap with ``over: 429``,
        raises the 429 :class:`APIError`.
        """
        if decision.kind == "price":
            return await self._apply_price(client, decision)
        if decision.role != "strong":
            return decision, None
        key, ttl = self._key(client, time.time())
        units, limit = self.config.units_per_call, self.config.limit_units
        total = await self._take(key, units, ttl)
        remaining = (limit - total) // units
        if total <= limit:
            self.metrics.caps_calls.labels("ok").inc()
            return decision, CapResult("ok", remaining)
        return self._over(decision.replace(targets=("weak", "strong"), fallback=False), ttl)

    async def _apply_price(self, client: str, decision: Decision) -> tuple[Decision, CapResult | None]:
        """The price rule: a call to any candidate but the cheapest takes its estimated cost (a dollar cap)
        or one call (a strong-call cap); past the cap it goes to the cheapest candidate (or gets a 429).

        A call that does not fit is taken back from the count, so a cheaper call later in the window may
        still fit.
        """
        estimates = {c.model: c.cost_usd for c in decision.candidates}
        cheapest = min(decision.targets, key=lambda m: estimates.get(m, 0.0))  # ties: the earlier target
        if decision.model == cheapest:
            return decision, None
        key, ttl = self._key(client, time.time())
        limit = self.config.limit_units
        units = 1 if self.config.strong_calls is not None else max(1, round(estimates.get(decision.model, 0.0) * 1e6))
        total = await self._take(key, units, ttl)
        if total <= limit:
            self.metrics.caps_calls.labels("ok").inc()
            return decision, CapResult("ok", (limit - total) // units)
        await self._take(key, -units, ttl)
        rest = tuple(m for m in decision.targets if m != cheapest)
        return self._over(decision.replace(targets=(cheapest, *rest), fallback=False), ttl)

    def _over(self, cheaper: Decision, ttl: int) -> tuple[Decision, CapResult]:
        """Past the cap: the cheaper decision (over: weak), or the 429."""
        if self.config.over == "429":
            from .errors import APIError

            self.metrics.caps_calls.labels("429").inc()
            raise APIError(429, f"spend cap reached for this key: {self.config.strong_calls or self.config.dollars} "
                                f"{'strong calls' if self.config.strong_calls is not None else 'USD'} per "
                                f"{self.config.window_seconds}s window", type="rate_limit_error", code="spend_cap",
                           headers={"retry-after": str(ttl), "x-routellm-cap": "429", "x-routellm-cap-remaining": "0"})
        self.metrics.caps_calls.labels("weak").inc()
        return cheaper, CapResult("weak", 0)

    async def for_request(self, request: Any, decision: Decision) -> tuple[Decision, CapResult | None]:
        """:meth:`apply` for the client of an HTTP request (its bearer key; "anonymous" without one)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        client = token.strip() if scheme.lower() == "bearer" and token.strip() else "anonymous"
        return await self.apply(client, decision)

    async def aclose(self) -> None:
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:  # noqa: BLE001 -- closing a dead connection
                pass

