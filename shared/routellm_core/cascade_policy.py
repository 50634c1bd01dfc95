"""The cascade policy: let the weak model answer first and escalate when its answer looks inadequate.

A :class:`CascadePolicy` composes the prompt-level :class:`~routellm_core.policy.RoutingPolicy`
with an answer scorer:

1. *prompt stage* (optional): the routing policy decides on the prompt; a prompt it sends to the
   strong model goes there directly (no weak call). Without a routing policy every prompt starts
   on the weak model ("cascade always").
2. *answer stage*: the weak model's answer is scored, P(inadequate) = P(worse than the strong
   model's answer); at or above ``escalate_threshold`` the weak answer is thrown away and the
   strong model answers. That weak call is still paid for: metadata lists every call made
   (``calls``) and how many answers were discarded (``wasted_calls``), and :func:`cascade_cost`
   prices them.

Rules:

- *tool calls*: when the weak model's answer asks for a tool, there is no cascade: the answer is
  kept (the agent runs the tool and the conversation continues as routed), because a tool request
  is not a final answer that can be judged. Front-ends pass ``has_tool_calls=True`` for it.
- an empty weak answer is inadequate by definition (escalated without scoring).
- ``escalate_fraction`` (with ``calibration_pairs`` of prompts and weak answers) calibrates the
  threshold to a share of escalations, like ``strong_fraction`` does for prompts;
  :func:`escalation_share` turns a target share of strong calls into it.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .calibration import threshold_for_fraction
from .errors import InvalidInputError
from .fallback import is_provider_error
from .policy import RoutingPolicy, error_text
from .pricing import Price
from .routers.base import Role, check_threshold

T = TypeVar("T")
ScorerSpec = Any  # "default", a checkpoint directory, or an AnswerScorer
# Keys every cascade answer's metadata has (on top of RoutingPolicy's METADATA_FIELDS).
CASCADE_FIELDS = ("cascade", "first_role", "answer_p_inadequate", "escalate_threshold", "escalated", "cascade_skipped",
                  "calls", "wasted_calls")
SKIP_TOOL_CALLS = "tool_calls"
SKIP_ROUTED_STRONG = "routed_strong"
EMPTY_ANSWER = "empty_answer"

_scorers: dict[str, Any] = {}
_scorers_lock = threading.Lock()


def load_scorer(spec: ScorerSpec = "default"):
    """An :class:`AnswerScorer` from ``"default"`` (trained once from the data dir, cached), a path or an object."""
    from .cascade.scorer import AnswerScorer

    if isinstance(spec, AnswerScorer):
        return spec
    if spec is None or not str(spec).strip():
        raise InvalidInputError("scorer is empty: give 'default', a checkpoint directory or an AnswerScorer")
    key = str(spec)
    with _scorers_lock:
        if key not in _scorers:
            if key == "default":
                from .cascade.default import default_answer_scorer

                _scorers[key] = default_answer_scorer()
            else:
                _scorers[key] = AnswerScorer.load(os.fspath(spec))
        return _scorers[key]


@dataclass(frozen=True)
class CascadeStart:
    """The prompt stage: ``role`` answers first; ``probability``/``threshold`` are the prompt router's (None if none)."""

    role: Role
    probability: float | None
    threshold: float | None
    router: str | None


@dataclass(frozen=True)
class AnswerCheck:
    """The answer stage for one weak answer."""

    escalate: bool
    p_inadequate: float | None
    threshold: float
    skipped: str | None = None  # why no score was computed (tool_calls, empty_answer)


@dataclass(frozen=True)
class CascadeResult(Generic[T]):
    """What the caller returns: the kept answer and its metadata (both decisions, every call made)."""

    answer: T
    metadata: dict[str, Any]


@dataclass(frozen=True, eq=False)
class CascadePolicy:
    """Prompt routing (optional) + answer scoring + escalation threshold: the whole cascade decision.

    >>> policy = CascadePolicy(scorer=my_scorer, escalate_threshold=0.6)   # doctest: +SKIP
    >>> result = policy.run("Prove that ...", call=lambda role: clients[role](...), text=lambda r: r.content)
    """

    scorer: ScorerSpec = "default"
    routing: RoutingPolicy | None = None
    escalate_threshold: float | None = None
    escalate_fraction: float | None = None
    calibration_pairs: tuple[tuple[str, str], ...] = ()
    fallback: bool = True
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "calibration_pairs", tuple((str(p), str(a)) for p, a in self.calibration_pairs))
        if self.escalate_threshold is not None and self.escalate_fraction is not None:
            raise InvalidInputError("give either escalate_threshold or escalate_fraction, not both")
        if self.escalate_threshold is not None:
            object.__setattr__(self, "escalate_threshold", check_threshold(self.escalate_threshold))
        elif self.escalate_fraction is None:
            raise InvalidInputError("set escalate_threshold=... or escalate_fraction=... (with calibration_pairs)")
        else:
            threshold_for_fraction([0.5], self.escalate_fraction)  # validates the range
            if not self.calibration_pairs:
                raise InvalidInputError("escalate_fraction needs calibration_pairs: (prompt, weak answer) samples")

    # --- resolution ------------------------------------------------------------------------------
    def resolved_scorer(self):
        scorer = self._state.get("scorer")
        if scorer is None:
            scorer = self._state["scorer"] = load_scorer(self.scorer)
        return scorer

    def resolved_threshold(self) -> float:
        """``escalate_threshold``, or the one escalating ``escalate_fraction`` of the calibration answers."""
        if self.escalate_threshold is not None:
            return self.escalate_threshold
        t = self._state.get("threshold")
        if t is None:
            if self.escalate_fraction is None:
                raise InvalidInputError("set escalate_threshold or escalate_fraction (with calibration_pairs)")
            prompts, answers = zip(*self.calibration_pairs)
            probs = self.resolved_scorer().predict_proba(list(prompts), list(answers))
            t = self._state["threshold"] = threshold_for_fraction(probs, float(self.escalate_fraction))
        return t

    # --- the two decisions -------------------------------------------------------------------------
    def start(self, texts: Sequence[str]) -> list[CascadeStart]:
        """Prompt stage: who answers first (weak for every text without a routing policy)."""
        if isinstance(texts, str):
            raise InvalidInputError("start() takes a list of texts, not a single string")
        if self.routing is None:
            return [CascadeStart("weak", None, None, None) for _ in texts]
        return [CascadeStart(d.role, d.probability, d.threshold, d.router) for d in self.routing.decide(texts)]

    async def astart(self, texts: Sequence[str]) -> list[CascadeStart]:
        if self.routing is None or isinstance(texts, str):
            return self.start(texts)
        return [CascadeStart(d.role, d.probability, d.threshold, d.router) for d in await self.routing.adecide(texts)]

    def check(self, prompts: Sequence[str], answers: Sequence[str],
              has_tool_calls: Sequence[bool] | None = None) -> list[AnswerCheck]:
        """Answer stage: escalate iff P(inadequate) >= the threshold; tool calls never escalate."""
        if isinstance(prompts, str) or isinstance(answers, str):
            raise InvalidInputError("check() takes lists of prompts and answers, not single strings")
        prompts, answers = list(prompts), list(answers)
        tools = [False] * len(answers) if has_tool_calls is None else [bool(t) for t in has_tool_calls]
        if not len(prompts) == len(answers) == len(tools):
            raise InvalidInputError(f"{len(prompts)} prompts, {len(answers)} answers, {len(tools)} tool-call flags")
        threshold = self.resolved_threshold()
        todo = [i for i, (a, t) in enumerate(zip(answers, tools)) if not t and a.strip()]
        probs = (self.resolved_scorer().predict_proba([prompts[i] for i in todo], [answers[i] for i in todo])
                 if todo else [])
        scored = dict(zip(todo, probs))
        out = []
        for i in range(len(answers)):
            if tools[i]:
                out.append(AnswerCheck(False, None, threshold, SKIP_TOOL_CALLS))
            elif i not in scored:
                out.append(AnswerCheck(True, None, threshold, EMPTY_ANSWER))
            else:
                p = float(scored[i])
                out.append(AnswerCheck(p >= threshold, p, threshold))
        return out

    # --- metadata ----------------------------------------------------------------------------------
    @staticmethod
    def metadata(start: CascadeStart, check: AnswerCheck | None, role: Role, model: str | None = None,
                 calls: Sequence[Role] = (), error: BaseException | None = None) -> dict[str, Any]:
        """RoutingPolicy's metadata keys plus :data:`CASCADE_FIELDS` for one answer.

        ``routed_role`` is the role the cascade chose (strong after an escalation), ``first_role``
        the prompt stage's; ``calls`` every model called in order, ``wasted_calls`` the answers
        thrown away (the weak answer of an escalation).
        """
        routed: Role = "strong" if (start.role == "strong" or (check is not None and check.escalate)) else "weak"
        prob = start.probability
        skipped = SKIP_ROUTED_STRONG if start.role == "strong" else (check.skipped if check is not None else None)
        calls = list(calls) or [start.role] + (["strong"] if start.role == "weak" and routed == "strong" else [])
        return {
            "role": role, "model": model, "routed_role": routed,
            "probability": None if prob is None or math.isnan(prob) else float(prob),
            "threshold": start.threshold, "router": start.router or "cascade",
            "fallback": role != routed, "fallback_error": None if error is None or role == routed else error_text(error),
            "cascade": True, "first_role": start.role,
            "answer_p_inadequate": None if check is None else check.p_inadequate,
            "escalate_threshold": None if check is None else check.threshold,
            "escalated": bool(start.role == "weak" and check is not None and check.escalate),
            "cascade_skipped": skipped, "calls": calls,
            "wasted_calls": max(0, len(calls) - 1),
        }

    # --- running a call ----------------------------------------------------------------------------
    def run(self, text: str, call: Callable[[Role], T], answer_text: Callable[[T], str] = str,
            has_tool_calls: Callable[[T], bool] = lambda _r: False, models: Mapping[Role, str] | None = None,
            ) -> CascadeResult[T]:
        """One prompt through the cascade: ``call(role)`` calls a model; returns the kept answer and metadata.

        A provider failure of the first model falls back to the other (``fallback``); a failed
        escalation keeps the weak answer and records the error.
        """
        start = self.start([text])[0]
        return self._finish(text, start, call, answer_text, has_tool_calls, models or {})

    async def arun(self, text: str, call: Callable[[Role], Awaitable[T]], answer_text: Callable[[T], str] = str,
                   has_tool_calls: Callable[[T], bool] = lambda _r: False,
                   models: Mapping[Role, str] | None = None) -> CascadeResult[T]:
        """:meth:`run` for coroutines (scoring runs in a worker thread)."""
        import asyncio

        models = models or {}
        start = (await self.astart([text]))[0]
        try:
            first = await call(start.role)
        except Exception as exc:
            other = self._fallback_role(start, exc)
            return CascadeResult(await call(other), self.metadata(start, None, other, models.get(other), [other], exc))
        check = None if start.role == "strong" else \
            (await asyncio.to_thread(self.check, [text], [answer_text(first)], [has_tool_calls(first)]))[0]
        if check is None or not check.escalate:
            return self._kept(start, check, first, models)
        try:
            better = await call("strong")
        except Exception as exc:
            return self._escalation_failed(start, check, first, models, exc)
        return CascadeResult(better, self.metadata(start, check, "strong", models.get("strong"), ["weak", "strong"]))

    def _finish(self, text, start, call, answer_text, has_tool_calls, models) -> CascadeResult:
        try:
            first = call(start.role)
        except Exception as exc:
            other = self._fallback_role(start, exc)
            return CascadeResult(call(other), self.metadata(start, None, other, models.get(other), [other], exc))
        check = None if start.role == "strong" else self.check([text], [answer_text(first)], [has_tool_calls(first)])[0]
        if check is None or not check.escalate:
            return self._kept(start, check, first, models)
        try:
            better = call("strong")
        except Exception as exc:
            return self._escalation_failed(start, check, first, models, exc)
        return CascadeResult(better, self.metadata(start, check, "strong", models.get("strong"), ["weak", "strong"]))

    # ``calls`` lists the calls that returned an answer (what is billed); a failed call is not in it.
    def _fallback_role(self, start: CascadeStart, exc: Exception) -> Role:
        """The other role after a provider failure of the first call (anything else is raised)."""
        if not (self.fallback and is_provider_error(exc)):
            raise exc
        return "weak" if start.role == "strong" else "strong"

    def _kept(self, start: CascadeStart, check: AnswerCheck | None, first: Any, models: Mapping[Role, str]) -> CascadeResult:
        return CascadeResult(first, self.metadata(start, check, start.role, models.get(start.role), [start.role]))

    def _escalation_failed(self, start, check, first, models, exc: Exception) -> CascadeResult:
        """The strong model failed after an escalation: keep the weak answer, record the error."""
        if not (self.fallback and is_provider_error(exc)):
            raise exc
        return CascadeResult(first, self.metadata(start, check, "weak", models.get("weak"), ["weak"], exc))


def escalation_share(strong_share: float, direct_share: float = 0.0) -> float:
    """The share of weak answers to escalate so that ``strong_share`` of prompts end on the strong model.

    ``direct_share`` is the share the prompt stage sends to the strong model directly.
    """
    for name, v in (("strong_share", strong_share), ("direct_share", direct_share)):
        if not 0.0 <= float(v) <= 1.0:
            raise InvalidInputError(f"{name} must be in [0, 1], got {v!r}")
    if direct_share >= 1.0 or strong_share <= direct_share:
        return 0.0
    return (strong_share - direct_share) / (1.0 - direct_share)


def cascade_cost(metadata: Mapping[str, Any], tokens: Mapping[Role, tuple[int, int]],
                 prices: Mapping[Role, Price]) -> float:
    """USD of one cascaded answer: every call in ``metadata['calls']``, including a discarded weak answer.

    ``tokens[role]`` is (input, output) tokens of that role's call.
    """
    total = 0.0
    for role in metadata.get("calls", ()):
        if role not in tokens or role not in prices:
            raise InvalidInputError(f"cascade_cost needs tokens and a price for the {role} call")
        total += prices[role].cost(*tokens[role])
    return total
