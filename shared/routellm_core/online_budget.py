"""The online budget: keep the realised spend per 1,000 calls of the price rule near a budget under drift.

``RoutingPolicy(router, candidates=..., budget_per_1k=B, calibration_prompts=..., online_window=N)``
wraps the price rule (:class:`~routellm_core.multi_model.MultiModelPolicy`) in an
:class:`OnlineBudget`, the many-model counterpart of the online threshold
(:mod:`routellm_core.online`). Each decision is made in two steps, in the order decisions are made:

1. **Tracking (soft).** The threshold is the one that would spend ``B_eff`` USD per 1,000 calls on the
   last ``M = max(20, N // 15)`` scored prompts (their pairwise probabilities and estimated costs,
   :func:`~routellm_core.multi_model.threshold_for_budget`), where ``B_eff = B + gain (B - s)`` and
   ``s`` is the realised spend per 1,000 calls of the last ``N`` decisions (a proportional controller,
   ``gain = 2``). Until ``M`` prompts have been scored, the threshold calibrated on
   ``calibration_prompts`` is used; when even the cheapest choices exceed ``B_eff``, the threshold is 1
   (every call to the cheapest candidate the top model is not certain to beat).
2. **Window cap (hard).** With ``U = (1 + tolerance) B N / 1000`` USD: a decision whose estimated cost
   would take the spend of the last ``N`` decisions above ``U`` goes to the priciest cheaper candidate
   that keeps it within ``U`` (else the cheapest); its metadata says ``online_forced: "cheaper"``.

Guarantee (deterministic, on the estimated costs the rule routes by): the estimated spend of every
``N`` consecutive decisions is at most ``U``, unless the cheapest candidate of those prompts alone
costs more (then it is what they cost). It is a ceiling: the spend is *tracked* towards ``B`` from
either side by step 1 (``benchmarks``/tests measure how close), but not forced up. Each metadata
carries ``online_spend_per_1k``, the realised USD per 1,000 calls of the last window before the
decision. Empty texts (``on_empty``) are not counted. The state is local to the process by default
(one per policy object); with ``online_state="redis://..."`` (server: ``multi_model.redis_url``) it
lives in Redis, exactly as the online threshold's (:mod:`routellm_core.online_state`): the cap holds
for every ``N`` consecutive decisions of all replicas sharing it, in the order they take its lock,
and losing Redis falls back to the replica's own window.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .decision import Decision
from .errors import InvalidInputError
from .multi_model import MultiModelPolicy, choose, threats, threshold_for_budget
from .online import MIN_WINDOW, _check_fraction, check_window
from .online_state import LocalStore, PlainState, make_store, stored_count, stored_float
from .routers.base import Router
from .turns import checked_texts

DEFAULT_TOLERANCE = 0.1
DEFAULT_GAIN = 2.0


class BudgetState(PlainState):
    """Recent scored prompts (threat and cost rows) and the estimated spend of the last N-1 decisions."""

    kind = "online budget"
    lists = ("rows", "spends")

    def __init__(self, window: int, score_window: int) -> None:
        self.window = window
        self.rows: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=score_window)
        self.spends: deque[float] = deque(maxlen=window - 1)
        self.spend_recent = 0.0
        self.total = 0
        self.forced = 0

    @property
    def shape(self) -> tuple[Any, ...]:
        return (self.kind, self.window, self.rows.maxlen)

    def per_1k(self) -> float | None:
        return 1000.0 * self.spend_recent / len(self.spends) if self.spends else None

    def record(self, spend: float) -> None:
        if len(self.spends) == self.spends.maxlen:
            self.spend_recent -= self.spends[0]
        self.spends.append(spend)
        self.spend_recent += spend
        self.total += 1

    def dump(self) -> tuple[dict[str, list[str]], dict[str, str]]:
        """A row is its threats then its costs, comma-separated (``-inf``: the top candidate's threat)."""
        rows = [",".join(repr(float(v)) for v in (*threat, *costs)) for threat, costs in self.rows]
        counts = {"total": str(self.total), "forced": str(self.forced), "spend_recent": repr(float(self.spend_recent))}
        return {"rows": rows, "spends": [repr(float(v)) for v in self.spends]}, counts

    def restore(self, lists: Mapping[str, list[str]], counts: Mapping[str, str]) -> None:
        width = None
        for row in lists.get("rows", []):
            values = np.array([stored_float(v, finite=False) for v in row.split(",")])
            half = len(values) // 2
            if len(values) % 2 or width not in (None, len(values)) or not np.isfinite(values[half:]).all():
                raise ValueError(f"row {row[:80]!r} is not a threat/cost row like the others")
            width = len(values)
            self.rows.append((values[:half], values[half:]))
        self.spends.extend(stored_float(v) for v in lists.get("spends", []))
        self.spend_recent = stored_float(counts["spend_recent"]) if "spend_recent" in counts else sum(self.spends)
        self.total, self.forced = stored_count(counts.get("total", "0")), stored_count(counts.get("forced", "0"))


@dataclass(frozen=True, eq=False)
class OnlineBudget:
    """The price rule with a threshold that follows the traffic so every window of N calls keeps a budget."""

    rule: MultiModelPolicy
    window: int
    tolerance: float = DEFAULT_TOLERANCE
    gain: float = DEFAULT_GAIN
    state_spec: Any = None
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", check_window(self.window))
        if self.rule.budget_per_1k is None:
            raise InvalidInputError("online_window on many models keeps a budget: give budget_per_1k (with "
                                    "calibration_prompts), not threshold or top_fraction")
        object.__setattr__(self, "tolerance", _check_fraction(self.tolerance, "online tolerance", 0.0, 1.0))
        score_window = max(MIN_WINDOW, self.window // 15)
        models = hashlib.sha1(",".join(self.rule.names).encode()).hexdigest()[:8]  # the rows' candidates
        self._state["store"] = make_store(self.state_spec, lambda: BudgetState(self.window, score_window),
                                          f"budget{self.budget:g}:{models}")

    # --- what the policy asks of a strategy -------------------------------------------------------
    @property
    def budget(self) -> float:
        return float(self.rule.budget_per_1k or 0.0)

    @property
    def cap(self) -> float:
        """U: the most USD any N consecutive decisions may spend (estimated)."""
        return (1.0 + self.tolerance) * self.budget * self.window / 1000.0

    @property
    def store(self) -> LocalStore[BudgetState]:
        """Where the window lives: this process (:class:`LocalStore`) or Redis (:class:`RedisStore`)."""
        return self._state["store"]

    @property
    def state(self) -> BudgetState:
        """The window as it stands (the shared one, read from Redis, for a :class:`RedisStore`)."""
        return self.store.peek()

    @property
    def names(self) -> list[str]:
        return self.rule.names

    @property
    def candidate_list(self) -> Any:
        return self.rule.candidate_list

    @property
    def on_empty(self) -> str:
        return self.rule.on_empty

    def share_router(self, other: Any) -> OnlineBudget:
        self.rule.share_router(other.rule if isinstance(other, OnlineBudget) else other)
        return self

    def resolved_router(self) -> Router:
        return self.rule.resolved_router()

    def resolved_threshold(self) -> float:
        """The threshold the next decision starts from (before the window cap)."""
        with self.store.session() as state:
            return self._threshold(state)

    def resolve(self) -> OnlineBudget:
        self.rule.resolve()
        return self

    def attempts(self, decision: Decision) -> list[Any]:
        return self.rule.attempts(decision)

    # --- the two steps -----------------------------------------------------------------------------
    def _threshold(self, state: BudgetState) -> float:
        if len(state.rows) < (state.rows.maxlen or 0):
            return self.rule.resolved_threshold()
        spent = state.per_1k()
        aim = self.budget if spent is None else self.budget + self.gain * (self.budget - spent)
        threat = np.stack([t for t, _ in state.rows])
        costs = np.stack([c for _, c in state.rows])
        if aim <= 0:
            return 1.0
        try:
            return threshold_for_budget(threat, costs, aim)
        except InvalidInputError:  # even the cheapest choices spend more than the aim
            return 1.0

    def _step(self, state: BudgetState, threat: np.ndarray, costs: np.ndarray) -> tuple[int, float, str | None,
                                                                                          float | None]:
        threshold = self._threshold(state)
        spent = state.per_1k()
        chosen = int(choose(threat[None, :], costs[None, :], threshold)[0])
        forced = None
        if state.spend_recent + costs[chosen] > self.cap + 1e-12:
            cheaper = [j for j in np.argsort(-costs, kind="stable") if costs[j] < costs[chosen]]
            fits = [int(j) for j in cheaper if state.spend_recent + costs[j] <= self.cap + 1e-12]
            chosen = fits[0] if fits else int(np.argmin(costs))
            forced = "cheaper"
            state.forced += 1
        state.rows.append((threat, costs))
        state.record(float(costs[chosen]))
        return chosen, threshold, forced, spent

    def _decide(self, texts: Sequence[str]) -> list[Decision]:
        rule = self.rule
        texts = checked_texts(texts, rule.on_empty)
        router = rule.resolved_router()
        rule.resolved_threshold()  # calibrated before the first decision
        scored = [t for t in texts if t.strip()]
        pairwise, costs = rule.estimates(scored)
        threat = threats(pairwise, costs)
        name = rule.label or router.name
        out, row = [], 0
        with self.store.session() as state:
            for text in texts:
                if not text.strip():
                    out.append(rule._empty(rule.resolved_threshold(), name))
                    continue
                chosen, threshold, forced, spent = self._step(state, threat[row], costs[row])
                decision = rule._decision(pairwise[row], threat[row], costs[row], chosen, threshold, name, text)
                out.append(decision.noted(online_forced=forced,
                                          online_spend_per_1k=None if spent is None else round(spent, 6)))
                row += 1
        return out

    def decide(self, texts: Sequence[str]) -> list[Decision]:
        """One decision per text (scored in one router call, then decided in order)."""
        return self._decide(texts)

    async def adecide(self, texts: Sequence[str]) -> list[Decision]:
        return await asyncio.to_thread(self._decide, list(texts))

    def stats(self) -> dict[str, Any]:
        """Decisions, realised USD per 1,000 calls of the last window, decisions the cap made cheaper."""
        with self.store.session() as state:
            return {"decisions": state.total, "spend_per_1k": state.per_1k(), "forced_cheaper": state.forced,
                    "budget_per_1k": self.budget, "window": self.window}
