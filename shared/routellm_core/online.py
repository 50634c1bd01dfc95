"""The online threshold: keep the realised strong share near a target while the traffic drifts.

``RoutingPolicy(router, strong_fraction=F, calibration_prompts=..., online_window=N)`` wraps the
threshold rule (:class:`~routellm_core.threshold_rule.ThresholdRule`) in an :class:`OnlineThreshold`.
Each decision is made in two steps, under one lock, in the order the decisions are made:

1. **Tracking (soft).** The threshold is the quantile of the last ``M = max(20, N // 15)`` scores
   that sends a share ``F_eff`` of them to the strong model, where ``F_eff = F + gain * (F - s)``
   and ``s`` is the realised strong share of the last ``N`` decisions (a proportional feedback
   controller on the realised share, ``gain = 2``). The short score window reacts to a change of traffic within
   about ``M`` decisions; the feedback pays back the share lost or gained while it reacted. Until
   ``M`` texts have been scored the calibrated threshold (``calibration_prompts``) is used.
2. **Window bound (hard).** With ``L = ceil((F - tolerance) N)`` and ``U = floor((F + tolerance) N)``:
   a decision that would put more than ``U`` strong decisions into the last ``N`` is made weak, and
   one that would leave fewer than ``L`` in the last ``N`` (counting the decisions still to come of
   the first window) is made strong. Such a decision is chosen by the bound, not by its score:
   its metadata says so (``online_forced``).

Guarantee (deterministic, not statistical: it holds with certainty for any order of traffic, also
an adversarial one): for every ``N`` consecutive decisions of one state, the first window included,
the number of strong decisions is in ``[L, U]`` — a strong share within ``F +- tolerance``
(rounded inwards to whole decisions). The soft step decides how often the bound has to force a
decision; ``benchmarks/drift.py`` measures it. Decisions of the empty-text rule (``on_empty``) are
not routed by score and are not counted. The state is local to the process by default (one per policy
object, shared by the threads and tasks that use it); with ``online_state="redis://..."`` it
lives in Redis and the guarantee holds over the decisions of every replica sharing it, in the
order they take its lock (:mod:`routellm_core.online_state`; losing Redis falls back to the
replica's own window). Copies made by per-call overrides start their own state.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .calibration import threshold_for_fraction
from .decision import Decision
from .errors import InvalidInputError
from .online_state import LocalStore, WindowState, make_store
from .routers.base import Router
from .threshold_rule import ThresholdRule, other_role

DEFAULT_TOLERANCE = 0.05
DEFAULT_GAIN = 2.0
MIN_WINDOW = 20


def check_window(window: Any) -> int:
    """``online_window`` must be a whole number of decisions, at least 20."""
    if isinstance(window, bool) or not isinstance(window, int | float) or not math.isfinite(float(window)) \
            or float(window) != int(window) or int(window) < MIN_WINDOW:
        raise InvalidInputError(f"online_window must be a whole number of decisions >= {MIN_WINDOW}, got {window!r}")
    return int(window)


def _check_fraction(value: Any, name: str, low: float = 0.0, high: float = 1.0) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(out) or not low <= out <= high:
        raise InvalidInputError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return out


def window_strong_counts(strong: Sequence[bool], window: int) -> list[int]:
    """The number of strong decisions in every run of ``window`` consecutive decisions (for checks)."""
    flags = [bool(s) for s in strong]
    if len(flags) < window:
        return []
    counts = [sum(flags[:window])]
    for i in range(window, len(flags)):
        counts.append(counts[-1] + flags[i] - flags[i - window])
    return counts


@dataclass(frozen=True, eq=False)
class OnlineThreshold:
    """A threshold rule whose threshold follows the traffic so every window of N decisions keeps its share.

    See the module docstring for the rule and its guarantee.
    """

    rule: ThresholdRule
    window: int
    tolerance: float = DEFAULT_TOLERANCE
    gain: float = DEFAULT_GAIN
    state_spec: Any = None
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", check_window(self.window))
        if self.rule.strong_fraction is None:
            raise InvalidInputError("online_window needs strong_fraction (the share to keep) with calibration_prompts, "
                                    "not a fixed threshold")
        object.__setattr__(self, "tolerance", _check_fraction(self.tolerance, "online tolerance", 0.0, 0.5))
        lower, upper = self.bounds
        if lower > upper:
            raise InvalidInputError(f"online_window={self.window} is too short to keep a share within "
                                    f"{self.target:g} +- {self.tolerance:g}")
        score_window = max(MIN_WINDOW, self.window // 15)
        self._state["store"] = make_store(self.state_spec, lambda: WindowState(self.window, score_window),
                                          f"target{self.target:g}")

    # --- settings ------------------------------------------------------------------------------
    @property
    def target(self) -> float:
        assert self.rule.strong_fraction is not None
        return float(self.rule.strong_fraction)

    @property
    def bounds(self) -> tuple[int, int]:
        """(L, U): the fewest and most strong decisions any N consecutive decisions may hold."""
        lower = max(0, math.ceil(round((self.target - self.tolerance) * self.window, 9)))
        upper = min(self.window, math.floor(round((self.target + self.tolerance) * self.window, 9)))
        return lower, upper

    @property
    def store(self) -> LocalStore[WindowState]:
        """Where the window lives: this process (:class:`LocalStore`) or Redis (:class:`RedisStore`)."""
        return self._state["store"]

    @property
    def state(self) -> WindowState:
        """The window as it stands (the shared one, read from Redis, for a :class:`RedisStore`)."""
        return self.store.peek()

    @property
    def router_label(self) -> str:
        return self.rule.router_label

    @property
    def on_empty(self) -> str:
        return self.rule.on_empty

    def name(self, router: Router) -> str:
        return self.rule.name(router)

    def share_router(self, other: Any) -> OnlineThreshold:
        self.rule.share_router(other.rule if isinstance(other, OnlineThreshold) else other)
        return self

    def resolved_router(self) -> Router:
        return self.rule.resolved_router()

    def resolved_threshold(self) -> float:
        """The threshold the next decision starts from (before the window bound)."""
        with self.store.session() as state:
            return self._threshold(state)

    def resolve(self) -> OnlineThreshold:
        self.rule.resolve()
        return self

    @property
    def resolved(self) -> bool:
        return self.rule.resolved

    # --- the two steps -------------------------------------------------------------------------
    def _threshold(self, state: WindowState) -> float:
        if len(state.scores) < state.scores.maxlen:  # type: ignore[operator]
            return self.rule.resolved_threshold()
        share = state.share()
        aim = self.target if share is None else self.target + self.gain * (self.target - share)
        return threshold_for_fraction(list(state.scores), min(1.0, max(0.0, aim)))

    def _step(self, state: WindowState, probability: float) -> tuple[str, float, str | None, float | None]:
        threshold = self._threshold(state)
        share = state.share()
        role = "strong" if probability >= threshold else "weak"
        lower, upper = self.bounds
        strong_before = state.strong_recent
        if state.total < self.window - 1:  # inside the first window: also count the decisions still to come
            still_to_come = self.window - 1 - state.total
            need_strong = state.strong_first + still_to_come < lower
        else:
            need_strong = strong_before < lower
        forced = None
        if role == "strong" and strong_before + 1 > upper:
            role, forced = "weak", "weak"
        elif role == "weak" and need_strong:
            role, forced = "strong", "strong"
        if forced:
            state.forced[forced] += 1
        state.scores.append(probability)
        state.record(role == "strong")
        return role, threshold, forced, share

    def _decisions(self, texts: list[str], probs: Sequence[float], name: str) -> list[Decision]:
        scored = iter(probs)
        out = []
        with self.store.session() as state:
            for text in texts:
                if not text.strip():
                    out.append(self.rule.decision(text, math.nan, self.rule.resolved_threshold(), name))
                    continue
                p = float(next(scored))
                role, threshold, forced, share = self._step(state, p)
                decision = Decision("threshold", (role, other_role(role)), p, threshold, name, self.rule.fallback,
                                    text=text)
                out.append(decision.noted(online_share=None if share is None else round(share, 4),
                                          online_forced=forced))
        return out

    def decide(self, texts: Sequence[str]) -> list[Decision]:
        """One decision per text (scored in one router call, then decided in order)."""
        texts, probs, router = self.rule.score(texts)
        return self._decisions(texts, probs, self.name(router))

    async def adecide(self, texts: Sequence[str]) -> list[Decision]:
        """:meth:`decide` without blocking the event loop (micro-batched scoring, see ThresholdRule)."""
        if not self.resolved:
            await asyncio.to_thread(self.resolve)
        texts, probs, router = await self.rule.ascore(texts)
        if self.store.shared:  # Redis round trips: not on the event loop
            return await asyncio.to_thread(self._decisions, texts, probs, self.name(router))
        return self._decisions(texts, probs, self.name(router))

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring: decisions, realised share of the last window, forced decisions."""
        with self.store.session() as state:
            return {"decisions": state.total, "share": state.share(), "forced_strong": state.forced["strong"],
                    "forced_weak": state.forced["weak"], "target": self.target, "window": self.window}

