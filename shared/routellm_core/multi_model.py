"""Routing among many models by price: the cheapest candidate the top model is not predicted to beat.

A router trained on many models (MF) predicts, for a prompt q and any two models it knows,
P(a beats b | q). Each candidate has a price (USD per million input/output tokens) and an
expected output length, so each call has an estimated cost. The decision rule has one knob,
``threshold`` t, with the meaning it has for a strong/weak pair:

    a pricier model is needed over a cheaper one m iff P(pricier beats m | q) >= t;
    the call goes to the cheapest candidate that no pricier candidate is needed over.

With two candidates this *is* :class:`~routellm_core.policy.RoutingPolicy`'s rule (strong iff
P(strong wins) >= t), decided from the same probabilities. A higher t spends less. t is fixed
directly, or calibrated on a sample of prompts like the threshold: ``top_fraction`` (this share of
calls on the most expensive candidate) or ``budget_per_1k`` (spend at most this many USD per 1,000
calls on the sample). A failed call falls back to the next-best candidate: the others by predicted
score (mean P(beats each other candidate)), best first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .calibration import threshold_for_fraction
from .decision import MULTI_METADATA_FIELDS, CandidateEstimate, Decision
from .errors import InvalidInputError
from .models import canonical_model_name
from .pricing import Price
from .router_spec import RouterSpec, resolve_router
from .routers.base import Router, check_threshold, scoring_lock
from .tokens import count_tokens
from .turns import checked_texts

DEFAULT_OUTPUT_TOKENS = 300
# The decision type the price rule returns (one type for every strategy).
MultiModelDecision = Decision
__all__ = ["MULTI_METADATA_FIELDS", "Candidate", "CandidateEstimate", "MultiModelDecision", "MultiModelPolicy",
           "PriceRule", "make_candidates"]


@dataclass(frozen=True)
class Candidate:
    """One model to route to: its name in the front-end, its price, and the router's model it stands for.

    ``router_model`` is the model id the router was trained on (default: ``name``), so a deployment
    name such as ``"local"`` can stand for ``"mistral-7b-instruct"``.
    """

    name: str
    price: Price
    output_tokens: int = DEFAULT_OUTPUT_TOKENS
    router_model: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError(f"a candidate model needs a non-empty name, got {self.name!r}")
        if not isinstance(self.price, Price):
            raise InvalidInputError(f"price of {self.name!r} must be a Price, got {type(self.price).__name__}")
        out = self.output_tokens
        if isinstance(out, bool) or not isinstance(out, (int, np.integer)) or out < 0:
            raise InvalidInputError(f"expected output tokens of {self.name!r} must be an integer >= 0, got {out!r}")

    @property
    def model_id(self) -> str:
        return canonical_model_name(self.router_model or self.name)

    def cost(self, input_tokens: int) -> float:
        """Estimated USD of one call with ``input_tokens`` of prompt."""
        return self.price.cost(int(input_tokens), int(self.output_tokens))


def as_price(name: str, value: Any) -> Price:
    """A :class:`Price` from a Price, ``(input, output)``, ``{"input": .., "output": ..}`` or ``"IN[,OUT]"``."""
    try:
        if isinstance(value, Price):
            return value
        if isinstance(value, str):
            return Price.parse(value)
        if isinstance(value, Mapping):
            unknown = set(value) - {"input", "output", "output_tokens", "router_model"}
            if unknown or "input" not in value:
                raise InvalidInputError("a price mapping needs 'input' (and 'output') in USD per million tokens")
            return Price(value["input"], value.get("output", value["input"]))
        if isinstance(value, Sequence) and len(value) == 2:
            return Price(value[0], value[1])
    except InvalidInputError as exc:
        raise InvalidInputError(f"bad price for {name!r}: {exc}") from None
    raise InvalidInputError(f"bad price for {name!r}: give (input, output) USD per million tokens, got {value!r}")


def make_candidates(names: Sequence[str], prices: Mapping[str, Any], router_models: Mapping[str, str] | None = None,
                    output_tokens: int | Mapping[str, int] = DEFAULT_OUTPUT_TOKENS) -> list[Candidate]:
    """Candidates from model names, a price per name, optional router model ids and output lengths.

    A price mapping may carry ``output_tokens`` and ``router_model`` too (server config style).
    """
    router_models = dict(router_models or {})
    if not isinstance(prices, Mapping):
        raise InvalidInputError("prices must map each model name to its (input, output) USD per million tokens")
    missing = [n for n in names if n not in prices]
    if missing:
        raise InvalidInputError(f"no price for {', '.join(map(repr, missing))}: prices must cover every model "
                                f"({', '.join(names)})")
    extra = [n for n in prices if n not in names]
    if extra:
        raise InvalidInputError(f"prices name models that are not candidates: {', '.join(map(repr, extra))}")
    out = []
    for name in names:
        spec = prices[name]
        tokens = output_tokens.get(name, DEFAULT_OUTPUT_TOKENS) if isinstance(output_tokens, Mapping) else output_tokens
        model = router_models.get(name)
        if isinstance(spec, Mapping):
            tokens = spec.get("output_tokens", tokens)
            model = spec.get("router_model", model)
        out.append(Candidate(name, as_price(name, spec), tokens, model))
    return out


def threats(pairwise: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Per prompt and candidate j: max over pricier candidates k of P(k beats j | prompt); -inf for the top.

    ``pairwise[i, a, b]`` = P(a beats b | prompt i); ``costs[i, j]`` the estimated cost (ties: the later
    listed candidate counts as pricier).
    """
    n, k = costs.shape
    out = np.full((n, k), -np.inf)
    order = np.argsort(costs, axis=1, kind="stable")
    rank = np.argsort(order, axis=1)  # position of each candidate in its row's cost order
    for j in range(k):
        for other in range(k):
            if other != j:
                pricier = rank[:, other] > rank[:, j]
                out[:, j] = np.where(pricier, np.maximum(out[:, j], pairwise[:, other, j]), out[:, j])
    return out


def choose(threat: np.ndarray, costs: np.ndarray, threshold: float) -> np.ndarray:
    """Index of the chosen candidate per prompt: the cheapest one no pricier candidate is needed over.

    ``threat`` from :func:`threats`; a pricier model is needed over j iff ``threat[i, j] >= threshold``
    (NaN: not needed). The top (``-inf``) is never beaten, so every prompt gets a candidate.
    """
    if costs.size == 0:
        return np.zeros(len(costs), dtype=np.int64)
    order = np.argsort(costs, axis=1, kind="stable")
    needed = np.take_along_axis(threat, order, axis=1) >= threshold
    first = np.argmax(~needed, axis=1)
    return order[np.arange(len(costs)), first].astype(np.int64)


@dataclass(frozen=True, eq=False)
class MultiModelPolicy:
    """Router + priced candidates + one threshold (or a calibrated top share or budget): texts in, decisions out.

    >>> from routellm_core.pricing import Price
    >>> policy = MultiModelPolicy("mf", {"gpt-4-1106-preview": Price(10, 30), "gpt-3.5-turbo-1106": Price(1, 2),
    ...                                  "mistral-7b-instruct": Price(0.2, 0.2)}, threshold=0.6)
    >>> policy.decide(["What is 2 + 2?"])[0].model in policy.names
    True
    """

    router: RouterSpec = "mf"
    candidates: Sequence[Candidate] | Mapping[str, Any] = ()
    threshold: float | None = None
    top_fraction: float | None = None
    budget_per_1k: float | None = None
    calibration_prompts: tuple[str, ...] = ()
    embedder: Any = None
    router_kwargs: Mapping[str, Any] | None = None
    on_empty: str = "error"
    fallback: bool = True
    label: str | None = None
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cands = self.candidates
        if isinstance(cands, Mapping):
            cands = make_candidates(list(cands), cands)
        cands = tuple(cands)
        if len(cands) < 2:
            raise InvalidInputError(f"multi-model routing needs at least two candidate models, got {len(cands)}")
        names = [c.name for c in cands]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"candidate names must be unique, got {names}")
        if not all(isinstance(c, Candidate) for c in cands):
            raise InvalidInputError("candidates must be Candidate objects or a mapping of name -> price")
        object.__setattr__(self, "candidates", cands)
        modes = [m for m in ("threshold", "top_fraction", "budget_per_1k") if getattr(self, m) is not None]
        if len(modes) != 1:
            raise InvalidInputError("set exactly one of threshold, top_fraction or budget_per_1k "
                                    f"(got {', '.join(modes) or 'none'})")
        if self.threshold is not None:
            object.__setattr__(self, "threshold", check_threshold(self.threshold))
        else:
            prompts = self.calibration_prompts
            if isinstance(prompts, str) or not prompts:
                raise InvalidInputError(f"{modes[0]} needs calibration_prompts: a sample of prompts like the ones "
                                        "you will route")
            object.__setattr__(self, "calibration_prompts", tuple(prompts))
        if self.top_fraction is not None:
            threshold_for_fraction([0.5], self.top_fraction)  # raises on a share outside [0, 1]
        budget = self.budget_per_1k
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                                   or not math.isfinite(budget) or budget < 0):
            raise InvalidInputError(f"budget_per_1k must be a number of USD >= 0, got {budget!r}")
        if self.on_empty != "error" and self.on_empty not in names:
            raise InvalidInputError(f"on_empty must be 'error' or a candidate ({', '.join(names)}), got {self.on_empty!r}")

    # --- settings --------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [c.name for c in self.candidates]  # type: ignore[union-attr]

    @property
    def candidate_list(self) -> list[Candidate]:
        return list(cast(Sequence[Candidate], self.candidates))

    def share_router(self, other: MultiModelPolicy) -> MultiModelPolicy:
        """Reuse ``other``'s loaded (and checked) router: same spec and candidates, another threshold."""
        if "router" in other._state and other.candidates == self.candidates:
            self._state["router"] = other._state["router"]
        return self

    def resolved_router(self) -> Router:
        """The router, loaded on first use; it must know every candidate's model."""
        router = self._state.get("router")
        if router is None:
            router = resolve_router(self.router, self.embedder, self.router_kwargs)
            if not callable(getattr(router, "pairwise_probabilities", None)) or not hasattr(router, "models_"):
                raise InvalidInputError(f"router {router.name!r} scores only a strong/weak pair: multi-model routing "
                                        "needs a router trained on many models (mf)")
            known = list(router.models_)  # type: ignore[attr-defined]
            unknown = [c.name if c.router_model is None else f"{c.name} ({c.router_model})"
                       for c in self.candidate_list if c.model_id not in known]
            if unknown:
                raise InvalidInputError(
                    f"the router was not trained on {', '.join(unknown)}; it knows: {', '.join(sorted(known))}. "
                    "Map a deployment to a known model with router_models={name: known_model}")
            self._state["router"] = router
        return router

    def estimates(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(P(candidate a beats b | text i), estimated cost of j on i), shaped (texts, k, k) and (texts, k).

        Input tokens are counted per candidate with its own tokenizer where it is available
        (:func:`routellm_core.tokens.count_tokens`).
        """
        cands = self.candidate_list
        router = self.resolved_router()
        counts = [count_tokens(list(texts), c.model_id) if texts else np.zeros(0, dtype=np.int64) for c in cands]
        tokens = counts[0] if counts else np.zeros(0, dtype=np.int64)
        costs = np.array([[c.cost(int(n[i])) for c, n in zip(cands, counts, strict=True)] for i in range(len(tokens))],
                         dtype=np.float64).reshape(len(tokens), len(cands))
        if not len(tokens):
            return np.zeros((0, len(cands), len(cands))), costs
        # pricier first, so a pricier model's P(beats a cheaper one) is computed as the strong/weak one is
        typical = int(np.mean(tokens))
        ranked = sorted(range(len(cands)), key=lambda j: -cands[j].cost(typical))
        with scoring_lock(router):
            probs = cast(Any, router).pairwise_probabilities(list(texts), [cands[j].model_id for j in ranked])
        back = np.argsort(ranked)
        return probs[:, back][:, :, back], costs

    def resolved_threshold(self) -> float:
        """The threshold given, or the one calibrated on ``calibration_prompts``."""
        if self.threshold is not None:
            return self.threshold
        if "threshold" not in self._state:
            pairwise, costs = self.estimates(list(self.calibration_prompts))
            threat = threats(pairwise, costs)
            self._state["threshold"] = (threshold_for_top_fraction(threat, costs, self.top_fraction)
                                        if self.top_fraction is not None
                                        else threshold_for_budget(threat, costs, float(self.budget_per_1k or 0.0)))
        return float(self._state["threshold"])

    def resolve(self) -> MultiModelPolicy:
        """Load the router and fix the threshold now (so a bad setting fails at construction)."""
        self.resolved_router()
        self.resolved_threshold()
        return self

    # --- decisions -------------------------------------------------------------------------------
    def decide(self, texts: Sequence[str]) -> list[MultiModelDecision]:
        """One decision per text, from one router call per top model."""
        texts = checked_texts(texts, self.on_empty)
        threshold = self.resolved_threshold()
        router = self.resolved_router()
        scored = [t for t in texts if t.strip()]
        pairwise, costs = self.estimates(scored)
        threat = threats(pairwise, costs)
        chosen = choose(threat, costs, threshold)
        name = self.label or router.name
        out, row = [], 0
        for text in texts:
            if not text.strip():
                out.append(self._empty(threshold, name))
                continue
            out.append(self._decision(pairwise[row], threat[row], costs[row], int(chosen[row]), threshold, name, text))
            row += 1
        return out

    async def adecide(self, texts: Sequence[str]) -> list[MultiModelDecision]:
        """:meth:`decide` off the event loop (loading, calibrating and scoring run in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.decide, list(texts))

    def _decision(self, pairwise: np.ndarray, threat: np.ndarray, costs: np.ndarray, chosen: int, threshold: float,
                  name: str, text: str) -> MultiModelDecision:
        cands = self.candidate_list
        k = len(cands)
        top = int(np.argsort(costs, kind="stable")[-1])
        scores = (pairwise.sum(axis=1) - 0.5) / (k - 1)  # mean P(j beats each other candidate)
        estimates = tuple(CandidateEstimate(c.name, float(scores[j]), max(0.0, float(threat[j])), float(costs[j]))
                          for j, c in enumerate(cands))
        rest = sorted((j for j in range(k) if j != chosen), key=lambda j: (-scores[j], costs[j]))
        order = tuple(cands[j].name for j in [chosen, *rest])
        return Decision("price", order, math.nan, threshold, name, self.fallback, cands[top].name, estimates, text=text)

    def _empty(self, threshold: float, name: str) -> MultiModelDecision:
        cands = self.candidate_list
        costs = [c.cost(0) for c in cands]
        top = cands[int(np.argsort(costs, kind="stable")[-1])].name
        rest = tuple(n for n in self.names if n != self.on_empty)
        estimates = tuple(CandidateEstimate(c.name, float("nan"), float("nan"), cost)
                          for c, cost in zip(cands, costs, strict=True))
        return Decision("price", (self.on_empty, *rest), math.nan, threshold, name, self.fallback, top, estimates)

    def attempts(self, decision: MultiModelDecision) -> list[Any]:
        """The candidates to try, in order: the chosen one, then (with ``fallback``) next-best first."""
        return decision.replace(fallback=self.fallback).attempts()

    @staticmethod
    def metadata(decision: MultiModelDecision, model: str | None = None,
                 error: BaseException | None = None) -> dict[str, Any]:
        """The routing metadata of an answer (:meth:`Decision.metadata`): who answered and every estimate."""
        return decision.metadata(model, None, error)


# The price rule under its strategy name.
PriceRule = MultiModelPolicy


def spend_per_1k(threat: np.ndarray, costs: np.ndarray, threshold: float) -> float:
    """USD per 1,000 calls on a sample when routed with ``threshold``."""
    chosen = choose(threat, costs, threshold)
    return float(costs[np.arange(len(chosen)), chosen].mean() * 1000.0) if len(chosen) else 0.0


def _top_margin(threat: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Per prompt, min over cheaper candidates of their threat: the top is chosen iff this >= t."""
    top = np.argsort(costs, axis=1, kind="stable")[:, -1]
    masked = threat.copy()
    masked[np.arange(len(top)), top] = np.inf
    return masked.min(axis=1)


def threshold_for_top_fraction(threat: np.ndarray, costs: np.ndarray, fraction: float | None) -> float:
    """The threshold sending ``fraction`` of a sample's calls to the most expensive candidate."""
    return threshold_for_fraction(_top_margin(threat, costs), float(fraction if fraction is not None else 0.0))


def threshold_for_budget(threat: np.ndarray, costs: np.ndarray, budget_per_1k: float) -> float:
    """The lowest threshold (most quality) whose spend on the sample is at most ``budget_per_1k`` USD per 1k calls.

    Spend falls as the threshold rises (fewer pricier models are needed), so the candidate
    thresholds (0, every predicted probability and the value just above it, 1) are bisected.
    """
    if len(costs) == 0:
        raise InvalidInputError("need at least one prompt to calibrate a budget")
    values = np.clip(threat[np.isfinite(threat)], 0.0, 1.0)
    points = np.unique(np.concatenate([[0.0, 1.0], values, np.nextafter(values, np.inf).clip(max=1.0)]))
    if spend_per_1k(threat, costs, 1.0) > budget_per_1k:
        cheapest = costs.min(axis=1).mean() * 1000.0
        raise InvalidInputError(f"budget_per_1k=${budget_per_1k:g} is below what routing can spend on this sample "
                                f"(cheapest candidate: ${cheapest:.4g} per 1k calls)")
    lo, hi = 0, len(points) - 1  # spend(points[hi]) <= budget
    while lo < hi:
        mid = (lo + hi) // 2
        if spend_per_1k(threat, costs, float(points[mid])) <= budget_per_1k:
            hi = mid
        else:
            lo = mid + 1
    return float(points[hi])
