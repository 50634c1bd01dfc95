"""The cascade policy: let the weak model answer first and escalate when its answer looks inadequate.

A :class:`CascadePolicy` is the cascade strategy of :class:`~routellm_core.policy.RoutingPolicy`
(``cascade=``): an optional prompt stage (a :class:`~routellm_core.threshold_rule.ThresholdRule`)
and an answer scorer. Its decisions carry the answer check; the one executor
(:mod:`routellm_core.executor`) runs them:

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .calibration import threshold_for_fraction
from .decision import (
    CASCADE_FIELDS,
    EMPTY_ANSWER,
    SKIP_ROUTED_STRONG,
    SKIP_TOOL_CALLS,
    AnswerCheck,
    Decision,
)
from .errors import InvalidInputError
from .executor import AnswerReader, Executor
from .pricing import Price
from .routers.base import check_threshold

T = TypeVar("T")
ScorerSpec = Any  # "default", a checkpoint directory, or an AnswerScorer
__all__ = ["CASCADE_FIELDS", "EMPTY_ANSWER", "SKIP_ROUTED_STRONG", "SKIP_TOOL_CALLS", "AnswerCheck", "CascadePolicy",
           "CascadeResult", "build_cascade", "cascade_cost", "escalation_share", "load_scorer"]


class PromptStage(Protocol):
    """What decides on the prompt before a cascade: a threshold rule (or a RoutingPolicy)."""

    def decide(self, texts: Sequence[str]) -> list[Decision]: ...

    async def adecide(self, texts: Sequence[str]) -> list[Decision]: ...

    def resolve(self) -> Any: ...


_scorers: dict[str, Any] = {}
_scorers_lock = threading.Lock()


def load_scorer(spec: ScorerSpec = "default"):
    """An :class:`AnswerScorer` from a shipped name (``"default"``, ``"features"``), a checkpoint path or an object.

    Loading never trains: a missing shipped checkpoint is a CheckpointError naming
    ``routellm-core train --recipe cascade``.
    """
    from .cascade.default import SHIPPED_SCORERS, shipped_answer_scorer
    from .cascade.scorer import AnswerScorer

    if isinstance(spec, AnswerScorer):
        return spec
    if spec is None or not str(spec).strip():
        raise InvalidInputError("scorer is empty: give 'default', 'features', a checkpoint directory or an AnswerScorer")
    key = str(spec)
    with _scorers_lock:
        if key not in _scorers:
            _scorers[key] = shipped_answer_scorer(key) if key in SHIPPED_SCORERS else AnswerScorer.load(os.fspath(spec))
        return _scorers[key]


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
    routing: PromptStage | None = None
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
    def resolve(self) -> CascadePolicy:
        """Load the scorer (and a prompt router) and fix the threshold now, so a bad setting fails early."""
        self.resolved_scorer()
        self.resolved_threshold()
        if self.routing is not None:
            self.routing.resolve()
        return self

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

    def with_routing(self, routing: PromptStage | None) -> CascadePolicy:
        """This cascade with another prompt stage (a call's overrides), sharing the loaded scorer and threshold."""
        if routing is self.routing:
            return self
        out = CascadePolicy(self.scorer, routing, self.escalate_threshold, self.escalate_fraction,
                            self.calibration_pairs, self.fallback)
        out._state.update(self._state)
        return out

    # --- the two decisions -------------------------------------------------------------------------
    def _decision(self, text: str, prompt: Decision | None) -> Decision:
        role = "weak" if prompt is None else prompt.role
        other = "strong" if role == "weak" else "weak"
        return Decision("cascade", (role, other), math.nan if prompt is None else prompt.probability,
                        math.nan if prompt is None else prompt.threshold, "cascade" if prompt is None else prompt.router,
                        self.fallback, check=self, escalate_to="strong", text=text)

    def decide(self, texts: Sequence[str]) -> list[Decision]:
        """Prompt stage: who answers first (weak for every text without a routing policy)."""
        if isinstance(texts, str):
            raise InvalidInputError("decide() takes a list of texts, not a single string")
        texts = list(texts)
        if self.routing is None:
            return [self._decision(t, None) for t in texts]
        return [self._decision(t, d) for t, d in zip(texts, self.routing.decide(texts), strict=True)]

    async def adecide(self, texts: Sequence[str]) -> list[Decision]:
        if self.routing is None or isinstance(texts, str):
            return self.decide(texts)
        texts = list(texts)
        return [self._decision(t, d) for t, d in zip(texts, await self.routing.adecide(texts), strict=True)]

    start = decide
    astart = adecide

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

    # --- running a call (the executor does it; these keep the cascade's own API) ---------------------
    @staticmethod
    def _executor(answer_text: Callable[[Any], str], has_tool_calls: Callable[[Any], bool],
                  models: Mapping[str, str] | None, merge: Callable[[list[Any]], Any] | None = None) -> Executor:
        reader = AnswerReader(answer_text, has_tool_calls) if merge is None else \
            AnswerReader(answer_text, has_tool_calls, merge)
        return Executor(names=dict(models or {}), reader=reader)

    def run(self, text: str, call: Callable[[str], T], answer_text: Callable[[T], str] = str,
            has_tool_calls: Callable[[T], bool] = lambda _r: False, models: Mapping[str, str] | None = None,
            ) -> CascadeResult[T]:
        """One prompt through the cascade: ``call(role)`` calls a model; returns the kept answer and metadata."""
        answer, meta = self._executor(answer_text, has_tool_calls, models).run(
            self.decide([text])[0], lambda attempt: call(attempt.key))
        return CascadeResult(answer, meta)

    async def arun(self, text: str, call: Callable[[str], Awaitable[T]], answer_text: Callable[[T], str] = str,
                   has_tool_calls: Callable[[T], bool] = lambda _r: False,
                   models: Mapping[str, str] | None = None) -> CascadeResult[T]:
        """:meth:`run` for coroutines (scoring runs in a worker thread)."""
        decision = (await self.adecide([text]))[0]
        answer, meta = await self._executor(answer_text, has_tool_calls, models).arun(
            decision, lambda attempt: call(attempt.key))
        return CascadeResult(answer, meta)

    def stream(self, text: str, start: Callable[[str], Any], merge: Callable[[list[Any]], Any],
               answer_text: Callable[[Any], str] = str, has_tool_calls: Callable[[Any], bool] = lambda _r: False,
               models: Mapping[str, str] | None = None) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Yield ``(chunk, metadata)``: the weak answer is buffered until it is scored."""
        yield from self._executor(answer_text, has_tool_calls, models, merge).stream(
            self.decide([text])[0], lambda attempt: start(attempt.key))

    async def astream(self, text: str, start: Callable[[str], Any], merge: Callable[[list[Any]], Any],
                      answer_text: Callable[[Any], str] = str, has_tool_calls: Callable[[Any], bool] = lambda _r: False,
                      models: Mapping[str, str] | None = None) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
        """:meth:`stream` for async streams."""
        decision = (await self.adecide([text]))[0]
        async for item in self._executor(answer_text, has_tool_calls, models, merge).astream(
                decision, lambda attempt: start(attempt.key)):
            yield item


def build_cascade(spec: Any, routing: PromptStage | None = None, fallback: bool = True) -> CascadePolicy:
    """The cascade a front-end's ``cascade=`` setting describes (None: no cascade).

    ``spec`` is True (the defaults), a :class:`CascadePolicy` (kept as it is, with its own prompt
    stage), or a mapping of its settings (``scorer``, ``escalate_threshold`` or ``escalate_fraction``
    + ``calibration_pairs``). ``routing`` is the prompt stage (the front-end's router and threshold):
    None sends every call to the weak model first. ``prompt_routing: False`` in the mapping drops it.
    """
    if spec is True:
        spec = {}
    if isinstance(spec, CascadePolicy):
        return spec
    if not isinstance(spec, Mapping):
        raise InvalidInputError(f"cascade must be a CascadePolicy or a dict of its settings (escalate_threshold=..., "
                                f"scorer=...), got {type(spec).__name__}")
    options = dict(spec)
    prompt_routing = options.pop("prompt_routing", None)
    options.pop("answer_text", None)  # read by the front-end that reads the answers
    unknown = set(options) - set(CASCADE_OPTIONS)
    if unknown:
        raise InvalidInputError(f"unknown cascade setting(s) {', '.join(sorted(unknown))}: "
                                f"use {', '.join(CASCADE_OPTIONS + ('prompt_routing',))}")
    if prompt_routing and routing is None:
        raise InvalidInputError("cascade prompt_routing=True needs a router and a threshold to route on the prompt")
    return CascadePolicy(**options, routing=None if prompt_routing is False else routing, fallback=fallback)


CASCADE_OPTIONS = ("scorer", "escalate_threshold", "escalate_fraction", "calibration_pairs")


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


def cascade_cost(metadata: Mapping[str, Any], tokens: Mapping[str, tuple[int, int]],
                 prices: Mapping[str, Price]) -> float:
    """USD of one cascaded answer: every call in ``metadata['calls']``, including a discarded weak answer.

    ``tokens[role]`` is (input, output) tokens of that role's call.
    """
    total = 0.0
    for role in metadata.get("calls", ()):
        if role not in tokens or role not in prices:
            raise InvalidInputError(f"cascade_cost needs tokens and a price for the {role} call")
        total += prices[role].cost(*tokens[role])
    return total
