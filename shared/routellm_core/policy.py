"""The decision layer: the one place that turns a text into the model(s) that answer it.

Every front-end (LangChain, LlamaIndex, the HTTP server, the CLI, the web demo) holds one
:class:`RoutingPolicy` and runs the same three steps::

    text = policy.routed_text(turns)          # which text of a chat is routed on
    decision = policy.decide([text])[0]       # a Decision: ordered targets, scores, metadata, an id
    answer, meta = policy.executor(names).run(decision, call)   # fallback, cascade check, escalation

The policy owns the router (name, checkpoint or object, with an optional embedder), the routed-text
rule, the empty-text rule, per-call overrides and whether a failed call falls back; a *strategy*
fills the decision: the threshold rule for a strong/weak pair (``threshold`` / ``strong_fraction``,
implemented here), the price rule for many models (``candidates`` with ``threshold`` /
``top_fraction`` / ``budget_per_1k``: :class:`~routellm_core.multi_model.MultiModelPolicy`) or the
cascade (``cascade=``: :class:`~routellm_core.cascade_policy.CascadePolicy`). Front-ends never
test which strategy is in use.

Rules chosen where the front-ends used to disagree (see docs/configuration.md):

- an empty routed text is an :class:`InvalidInputError` (server: 400) unless ``on_empty`` says
  which role answers such calls;
- ``threshold`` and ``strong_fraction`` together are an error; a per-call value replaces the
  instance's mode;
- the routed chat text is the last *user* message with text (``route_on="last_user"``;
  ``"last_human"`` is accepted as an alias);
- metadata always has the same keys (:data:`METADATA_FIELDS`, one schema for every strategy),
  the fallback's cause is ``fallback_error``.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .decision import METADATA_FIELDS, Attempt, Decision, Kind, error_text, flat_metadata
from .errors import InvalidInputError, RouteLLMError
from .executor import AnswerReader, Executor
from .inputs import clean_text
from .router_spec import RouterSpec, calibrated_threshold, callable_embedder, check_mode, resolve_router
from .routers.base import Router, check_threshold, scoring_lock
from .threshold_rule import ThresholdRule, other_role
from .turns import (
    EMPTY_TEXT,
    ROUTE_MODE_ALIASES,
    ROUTE_MODES,
    RouteOn,
    Turn,
    check_route_on,
    checked_texts,
    content_text,
    conversation_text,
    normalize_role,
    openai_turns,
    turns_text,
)

__all__ = ["EMPTY_TEXT", "METADATA_FIELDS", "ROUTE_MODES", "ROUTE_MODE_ALIASES", "Attempt", "Decision", "RouteOn",
           "RouterSpec", "RoutingPolicy", "ThresholdRule", "Turn", "calibrated_threshold", "callable_embedder",
           "check_mode", "check_route_on", "checked_texts", "content_text", "conversation_text", "decide_many",
           "error_text", "flat_metadata", "normalize_role", "openai_turns", "other_role", "resolve_router",
           "turns_text"]


ON_EMPTY = ("error", "strong", "weak")
# Per-call override names (LangChain ``configurable`` keys, call kwargs).
OVERRIDE_KEYS = ("routellm_threshold", "routellm_strong_fraction", "routellm_router")
MODEL_PREFIX = "router-"
STRATEGY_SETTINGS = ("candidates", "top_fraction", "budget_per_1k", "cascade")


def _kind(candidates: Any, cascade: Any) -> Kind:
    if candidates is not None and cascade not in (None, False):
        raise InvalidInputError("give either candidates (routing among many models) or cascade, not both")
    if candidates is not None:
        return "price"
    return "cascade" if cascade not in (None, False) else "threshold"


@dataclass(frozen=True, eq=False)
class RoutingPolicy:
    """The one policy: a strategy (threshold rule, price rule or cascade) + the routing rules.

    Thread-safe and cheap to copy: the router loads on first use (cached per process by
    ``load_router``), a calibrated threshold is computed once per router and prompt sample.

    - strong/weak pair: ``RoutingPolicy("mf", threshold=0.6)`` or ``strong_fraction=0.3`` with
      ``calibration_prompts``;
    - many priced models: ``RoutingPolicy("mf", candidates={"gpt-4o": (2.5, 10), ...}, threshold=0.6)``
      (or ``top_fraction`` / ``budget_per_1k`` with ``calibration_prompts``);
    - cascade: ``RoutingPolicy("mf", cascade={"escalate_threshold": 0.6})`` (weak first, its answer
      judged); with ``threshold`` / ``strong_fraction`` too, the prompt is routed first.

    >>> policy = RoutingPolicy("random", threshold=0.5)
    >>> policy.decide(["What is 2 + 2?"])[0].role in ("strong", "weak")
    True
    """

    router: RouterSpec = "mf"
    threshold: float | None = None
    strong_fraction: float | None = None
    calibration_prompts: tuple[str, ...] = ()
    embedder: Any = None
    router_kwargs: Mapping[str, Any] | None = None
    route_on: RouteOn = "last_user"
    on_empty: str = "error"
    fallback: bool = True
    max_batch: int = 256
    label: str | None = None
    candidates: Any = None
    top_fraction: float | None = None
    budget_per_1k: float | None = None
    cascade: Any = None
    explore: float = 0.0
    feedback: Any = None
    online_window: int | None = None
    reroute_guard: bool = False
    online_state: Any = None
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("threshold", "strong_fraction", "top_fraction", "budget_per_1k"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
                raise InvalidInputError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        prompts = self.calibration_prompts
        prompts = tuple(prompts or ()) if not isinstance(prompts, str) else prompts
        if isinstance(prompts, tuple):
            prompts = tuple(clean_text(p)[0] if isinstance(p, str) else p for p in prompts)
        object.__setattr__(self, "calibration_prompts", prompts)
        object.__setattr__(self, "route_on", check_route_on(self.route_on))
        self._state["strategy"] = self._build_strategy()
        rate = self.explore
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= float(rate) < 0.5:
            raise InvalidInputError(f"explore must be a rate in [0, 0.5), got {rate!r}")
        if rate and self.kind == "price":
            raise InvalidInputError("explore flips strong/weak decisions: it does not apply to routing among many models")
        if self.feedback is not None:
            from .feedback_log import FeedbackRecorder

            recorder = self.feedback if isinstance(self.feedback, FeedbackRecorder) else FeedbackRecorder(self.feedback)
            object.__setattr__(self, "feedback", recorder)

    def _build_strategy(self) -> Any:
        strategy = self._base_strategy()
        if self.online_window is not None:
            from .multi_model import MultiModelPolicy
            from .online import OnlineThreshold

            if isinstance(strategy, MultiModelPolicy):  # many models: keep a budget per 1,000 calls
                from .online_budget import OnlineBudget

                return OnlineBudget(strategy, self.online_window, state_spec=self.online_state)
            if not isinstance(strategy, ThresholdRule):
                raise InvalidInputError("online_window keeps a strong share (a strong/weak pair with strong_fraction) "
                                        "or a budget (candidates with budget_per_1k): not a cascade")
            strategy = OnlineThreshold(strategy, self.online_window, state_spec=self.online_state)
        elif self.online_state is not None:
            raise InvalidInputError("online_state says where an online window lives: give online_window too")
        return strategy

    def _base_strategy(self) -> Any:
        kind = _kind(self.candidates, self.cascade)
        if kind == "price":
            from .multi_model import MultiModelPolicy

            if self.reroute_guard:
                raise InvalidInputError("reroute_guard applies to a strong/weak pair (threshold or strong_fraction), "
                                        "not to routing among many models")
            if self.strong_fraction is not None:
                raise InvalidInputError("routing among many models has no strong share: use top_fraction, "
                                        "budget_per_1k or threshold")
            return MultiModelPolicy(self.router, self.candidates, threshold=self.threshold,
                                    top_fraction=self.top_fraction, budget_per_1k=self.budget_per_1k,
                                    calibration_prompts=self.calibration_prompts, embedder=self.embedder,
                                    router_kwargs=self.router_kwargs, on_empty=self.on_empty, fallback=self.fallback,
                                    label=self.label)
        if self.top_fraction is not None or self.budget_per_1k is not None:
            raise InvalidInputError("top_fraction and budget_per_1k apply to routing among many models: "
                                    "give candidates too (or use strong_fraction for a strong/weak pair)")
        if kind == "cascade":
            from .cascade_policy import build_cascade

            routed = self.threshold is not None or self.strong_fraction is not None
            return build_cascade(self.cascade, self._threshold_rule() if routed else None, self.fallback)
        return self._threshold_rule()

    def _threshold_rule(self) -> ThresholdRule:
        return ThresholdRule(self.router, self.threshold, self.strong_fraction, self.calibration_prompts, self.embedder,
                             self.router_kwargs, self.on_empty, self.fallback, self.max_batch, self.label,
                             self.reroute_guard)

    # --- settings --------------------------------------------------------------------------------
    @property
    def strategy(self) -> Any:
        """What fills the decisions: a ThresholdRule, a MultiModelPolicy (price rule) or a CascadePolicy."""
        return self._state["strategy"]

    @property
    def kind(self) -> Kind:
        return _kind(self.candidates, self.cascade)

    @property
    def prompt_rule(self) -> ThresholdRule | None:
        """The threshold rule deciding on the prompt (a cascade's prompt stage; None for the price rule)."""
        strategy = self.strategy
        if isinstance(strategy, ThresholdRule):
            return strategy
        if self.online_window is not None:
            return None  # the online threshold decides every prompt itself
        routing = getattr(strategy, "routing", None)
        return routing if isinstance(routing, ThresholdRule) else None

    @property
    def router_label(self) -> str:
        """The name decisions report: ``label``, else the router's name (``mf``) or the spec it was given as."""
        if self.label:
            return self.label
        return self.router.name if isinstance(self.router, Router) else str(self.router)

    @property
    def targets(self) -> list[str]:
        """The keys of the models decisions name: strong/weak, or the candidates' names."""
        return list(self.strategy.names) if self.kind == "price" else ["strong", "weak"]

    def with_overrides(self, threshold: float | None = None, strong_fraction: float | None = None,
                       router: RouterSpec | None = None) -> RoutingPolicy:
        """This policy for one call: a given threshold or strong fraction replaces the instance's mode.

        A cascade without a prompt stage has no threshold to override (it is returned unchanged).
        """
        if threshold is None and strong_fraction is None and router is None:
            return self
        if threshold is not None and strong_fraction is not None:
            raise InvalidInputError("give either routellm_threshold or routellm_strong_fraction for a call, not both")
        kind = self.kind
        if kind == "cascade" and self.prompt_rule is None:
            return self
        changes: dict[str, Any] = {}
        if threshold is not None:
            changes.update(threshold=check_threshold(threshold), strong_fraction=None, top_fraction=None, online_window=None, online_state=None,
                           budget_per_1k=None)
        if strong_fraction is not None:
            changes.update(threshold=None, strong_fraction=strong_fraction)
            if hasattr(self.online_state, "session"):  # a store object holds one window: the copy starts its own
                changes["online_state"] = None
        if router is not None:
            changes["router"] = router
        settings = {**self.settings(), **changes}
        if kind == "cascade":
            rule = RoutingPolicy(**{**settings, "cascade": None}).strategy
            if router is None and self.prompt_rule is not None:
                rule.share_router(self.prompt_rule)
            return RoutingPolicy(**{**settings, "cascade": self.strategy.with_routing(rule)})
        out = RoutingPolicy(**settings)
        if router is None:
            out.share_router(self)
        return out

    def share_router(self, other: RoutingPolicy) -> None:
        """Reuse ``other``'s loaded router (this policy has the same router spec and strategy)."""
        mine, theirs = self.strategy, other.strategy
        if type(mine) is type(theirs) and hasattr(mine, "share_router"):
            mine.share_router(theirs)

    def overrides_from(self, values: Mapping[str, Any]) -> RoutingPolicy:
        """:meth:`with_overrides` from a mapping with ``routellm_threshold``-style keys (None ignored)."""
        return self.with_overrides(threshold=values.get("routellm_threshold"),
                                   strong_fraction=values.get("routellm_strong_fraction"),
                                   router=values.get("routellm_router"))

    def settings(self) -> dict[str, Any]:
        """The constructor arguments of this policy."""
        return {"router": self.router, "threshold": self.threshold, "strong_fraction": self.strong_fraction,
                "calibration_prompts": self.calibration_prompts, "embedder": self.embedder,
                "router_kwargs": self.router_kwargs, "route_on": self.route_on, "on_empty": self.on_empty,
                "fallback": self.fallback, "max_batch": self.max_batch, "label": self.label,
                "candidates": self.candidates, "top_fraction": self.top_fraction,
                "budget_per_1k": self.budget_per_1k, "cascade": self.cascade, "explore": self.explore,
                "feedback": self.feedback, "online_window": self.online_window, "reroute_guard": self.reroute_guard,
                "online_state": self.online_state}

    # --- resolution (lazy, cached) ---------------------------------------------------------------
    def resolved_router(self) -> Router:
        """The Router object (loaded on first use); a cascade without a prompt stage has none."""
        strategy = self.strategy
        if hasattr(strategy, "resolved_router"):
            return strategy.resolved_router()
        rule = self.prompt_rule
        if rule is None:
            raise InvalidInputError("this cascade routes every prompt to the weak model first: it uses no router")
        return rule.resolved_router()

    def resolved_threshold(self) -> float:
        """The prompt threshold given, or the one calibrated on ``calibration_prompts``."""
        strategy = self.strategy
        if hasattr(strategy, "names") or self.online_window is not None:
            return strategy.resolved_threshold()
        rule = self.prompt_rule
        return math.nan if rule is None else rule.resolved_threshold()

    def resolve(self) -> RoutingPolicy:
        """Load the router (or scorer) and fix the thresholds now (so a bad setting fails at construction)."""
        self.strategy.resolve()
        return self

    # --- what text is routed ---------------------------------------------------------------------
    def routed_text(self, turns: Sequence[Turn], raw: Any = None) -> str:
        """The text routed for a chat: by ``route_on`` (a callable gets ``raw``, the framework's messages)."""
        if callable(self.route_on):
            text = self.route_on(turns if raw is None else raw)
            if not isinstance(text, str):
                raise InvalidInputError(f"route_on returned {type(text).__name__}, expected str")
            return text
        return turns_text(turns, self.route_on)

    # --- decisions -------------------------------------------------------------------------------
    def decide(self, texts: Sequence[str]) -> list[Decision]:
        """One decision per text, from one router call (pair: strong iff P(strong wins) >= threshold).

        Texts are cleaned and capped first (:mod:`routellm_core.inputs`: head-and-tail truncation past
        ``MAX_ROUTED_CHARS``, lone surrogates and control characters replaced).
        """
        cleaned, lengths = _cleaned(texts)
        return self._explored(self._noted(self.strategy.decide(cleaned), lengths))

    async def adecide(self, texts: Sequence[str]) -> list[Decision]:
        """:meth:`decide` without blocking the event loop (scoring is micro-batched in a worker thread)."""
        cleaned, lengths = _cleaned(texts)
        return self._explored(self._noted(await self.strategy.adecide(cleaned), lengths))

    def _noted(self, decisions: list[Decision], lengths: Sequence[int | None]) -> list[Decision]:
        """Decisions with the input cap's and the reroute guard's notes (docs/guard.md)."""
        out = [d.noted(truncated=n) if n is not None else d for d, n in zip(decisions, lengths, strict=True)]
        if not self.reroute_guard:
            return out
        router = self.resolved_router()
        explain = getattr(router, "explain", None)
        if explain is None:
            return out
        noted = []
        for d in out:
            seen = explain(d.text) if d.text else None
            if seen is not None and seen[2] is not None:
                d = d.noted(guard_flag=seen[2], unguarded_probability=round(seen[0], 6))
            noted.append(d)
        return noted

    def _finished(self, decision: Decision, length: int | None) -> Decision:
        """One decision made outside :meth:`decide` (``decide_many``) with the notes ``decide`` adds."""
        return self._explored(self._noted([decision], [length]))[0]

    def _explored(self, decisions: list[Decision]) -> list[Decision]:
        """With ``explore``: flip each decision with that probability, recording the propensity.

        Feedback then also covers the model the router would not have chosen, so the estimator can
        reweight it (1 / propensity). The flipped calls are real calls to the other model: the
        metadata reports the model that answered, and callers bill it like any other.
        """
        rate = float(self.explore)
        if not rate:
            return decisions
        rng = self._state.setdefault("rng", random.Random())
        out = []
        for d in decisions:
            flip = rng.random() < rate
            targets = tuple(reversed(d.targets)) if flip else d.targets
            out.append(d.replace(targets=targets, explored=flip, propensity=rate if flip else 1.0 - rate))
        return out

    def record_feedback(self, answer: Any, score: Any, prompt: str | None = None) -> Any:
        """Store a user's score in [0, 1] for a routed answer (or its metadata, or its ``decision_id``).

        Needs ``feedback=`` (a FeedbackStore, a SQLite path or a SQLAlchemy URL); see
        :mod:`routellm_core.feedback_log` for what is stored and :func:`feedback_records` for the estimator.
        """
        if self.feedback is None:
            raise InvalidInputError("this policy keeps no feedback: create it with feedback=<FeedbackStore, SQLite "
                                    "path or SQLAlchemy URL>")
        return self.feedback.record(answer, score, prompt)

    def revive(self, decision: Decision | Mapping[str, Any]) -> Decision:
        """A decision made earlier (``batch``), possibly as data (``Decision.to_dict``), ready to run here.

        A cascade decision gets this policy's answer check back (it does not travel as data).
        """
        out = Decision.from_dict(decision) if isinstance(decision, Mapping) else decision
        if out.kind == "cascade" and out.check is None:
            out = out.replace(check=self.strategy)
        return out

    def executor(self, names: Mapping[str, str] | None = None, reader: AnswerReader | None = None,
                 noun: str = "model") -> Executor:
        """The executor for this policy's decisions (``names``: target key -> readable model name)."""
        return Executor(names=dict(names or {}), reader=reader or AnswerReader(), noun=noun, recorder=self.feedback)

    def attempts(self, decision: Decision) -> list[Attempt]:
        """The targets to try, in order: the routed one, then (with this policy's ``fallback``) the others."""
        return decision.replace(fallback=self.fallback).attempts()

    @staticmethod
    def strong_probability(decision: Decision) -> float:
        """P(the strong model is needed) on a scale where the threshold sits at 0.5.

        P(strong wins) is stretched piecewise-linearly so that 0 -> 0, the threshold -> 0.5 and
        1 -> 1: the value is >= 0.5 exactly when the decision is strong, so frameworks that pick the
        likelier of two labels (decision models, ``Choice`` questions) agree with the router.
        A decision without a probability (``on_empty``) gives 1.0 or 0.0 for its role.
        """
        strong = decision.role == "strong"
        p, t = decision.probability, decision.threshold
        if p is None or math.isnan(p) or t is None or math.isnan(t):
            return 1.0 if strong else 0.0
        if strong:
            return 1.0 if t >= 1.0 else min(1.0, 0.5 + 0.5 * (p - t) / (1.0 - t))
        return max(0.0, min(0.4999, 0.5 * p / t)) if t > 0 else 0.0

    @classmethod
    def target_probabilities(cls, decision: Decision) -> dict[str, float]:
        """A distribution over the decision's targets whose likeliest target is the routed one.

        Pair: ``strong`` gets :meth:`strong_probability`, ``weak`` the rest. Price rule: the routed
        candidate gets half the mass plus its share of the other half; the other half is split in
        proportion to each candidate's predicted score. Frameworks that pick the likeliest label
        (decision models, selectors) therefore agree with the router.
        """
        if not decision.candidates:
            strong = cls.strong_probability(decision)
            return {"strong": strong, "weak": 1.0 - strong}
        scores = {c.model: max(c.score, 1e-6) if c.score == c.score else 1.0 for c in decision.candidates}
        total = sum(scores.values())
        return {m: (0.5 if m == decision.model else 0.0) + 0.5 * s / total for m, s in scores.items()}

    @staticmethod
    def metadata(decision: Decision, role: str | None = None, model: str | None = None,
                 error: BaseException | None = None) -> dict[str, Any]:
        """The routing metadata of an answer (:meth:`Decision.metadata`; same keys everywhere)."""
        return decision.metadata(role, model, error)


def _cleaned(texts: Sequence[str]) -> tuple[list[str], list[int | None]]:
    """The texts as routers may score them (checked: a list of str), and each original length if truncated."""
    if isinstance(texts, str):
        raise InvalidInputError("decide() takes a list of texts, not a single string")
    out, lengths = [], []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInputError(f"text {i} is {type(text).__name__}, expected str")
        cleaned, length = clean_text(text)
        out.append(cleaned)
        lengths.append(length)
    return out, lengths


def decide_many(pairs: Sequence[tuple[RoutingPolicy, str]]) -> list[Decision | Exception]:
    """Decisions for (policy, text) pairs that may differ per item (batch calls with per-item overrides).

    One router call per distinct router for the threshold rule; an item whose text or settings are
    invalid gets its exception in its place, so the others are still routed. Each decision carries
    the same notes a single ``decide`` gives it (``truncated`` for a capped text, the reroute guard's
    flag, exploration).
    """
    results: list[Decision | Exception | None] = [None] * len(pairs)
    groups: dict[int, list[tuple[int, ThresholdRule, str, float]]] = {}
    routers: dict[int, Router] = {}
    lengths: list[int | None] = [None] * len(pairs)
    for i, (policy, text) in enumerate(pairs):
        try:
            if not isinstance(text, str):
                raise InvalidInputError(f"text {i} is {type(text).__name__}, expected str")
            rule = policy.strategy
            if not isinstance(rule, ThresholdRule):
                results[i] = policy.decide([text])[0]  # cleans, caps and notes the text itself
                continue
            text, lengths[i] = clean_text(text)
            router = rule.resolved_router()
            threshold = rule.resolved_threshold()
            if not text.strip():
                results[i] = policy._finished(rule.decision(text, math.nan, threshold, rule.name(router)), lengths[i])
                continue
        except RouteLLMError as exc:
            results[i] = exc
            continue
        routers[id(router)] = router
        groups.setdefault(id(router), []).append((i, rule, text, threshold))
    for key, items in groups.items():
        router = routers[key]
        with scoring_lock(router):
            probs = router.predict_proba([text for _, _, text, _ in items])
        for (i, rule, text, threshold), p in zip(items, probs, strict=True):
            results[i] = pairs[i][0]._finished(rule.decision(text, float(p), threshold, rule.name(router)), lengths[i])
    return results  # type: ignore[return-value]


# --- OpenAI-style model names: router-<name>-<threshold> --------------------------------------------------
class ModelNameError(InvalidInputError):
    """A ``model`` field that names no configured router; ``code`` is OpenAI's error code for it."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def parse_model_name(model: Any, routers: Collection[str], aliases: Mapping[str, tuple[str, float]] | None = None,
                     defaults: Mapping[str, float] | None = None) -> tuple[str, float]:
    """``router-<key>-<threshold>`` or an alias -> (router key, threshold); anything else names the problem.

    Router keys may contain ``-``: the longest configured key that prefixes the name wins.
    """
    aliases = aliases or {}
    example = f"{MODEL_PREFIX}{next(iter(routers), 'mf')}-0.5"
    if not isinstance(model, str) or not model.strip():
        raise ModelNameError(f"'model' must be a non-empty string such as '{example}'")
    if model in aliases:
        return aliases[model]
    if not model.startswith(MODEL_PREFIX):
        names = list(aliases) + [f"{MODEL_PREFIX}{k}-{t:g}" for k, t in (defaults or {}).items()]
        raise ModelNameError(f"unknown model {model!r}: use '{MODEL_PREFIX}<router>-<threshold>' "
                             f"(routers: {', '.join(routers)}) or an alias ({', '.join(names) or 'none configured'})",
                             code="model_not_found")
    rest = model[len(MODEL_PREFIX):]
    if rest in routers:
        raise ModelNameError(f"model {model!r} lacks a threshold: use '{model}-<threshold>', a number in [0, 1]")
    keys = [k for k in routers if rest.startswith(k + "-")]
    if not keys:
        name = rest.rpartition("-")[0] or rest
        raise ModelNameError(f"unknown router {name!r} in model {model!r}; configured routers: {', '.join(routers)}",
                             code="model_not_found")
    key = max(keys, key=len)
    threshold = rest[len(key) + 1:]
    try:
        return key, check_threshold(threshold)
    except RouteLLMError:
        raise ModelNameError(f"threshold {threshold!r} in model {model!r} is not a number in [0, 1]") from None
