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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
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


# --- streaming: buffer the weak answer until it is scored -------------------------------------------------
C = TypeVar("C")
ChunkStart = Callable[[Role], Any]  # role -> an iterable of chunks (async: an async iterator, or a coroutine of one)


def _close(chunks: Any) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


async def _aclose(chunks: Any) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


class _Streams:
    """:meth:`CascadePolicy.stream` and ``astream``: the same decisions as ``run``, chunk by chunk.

    The weak answer is read to its end (buffered) before anything is yielded, because the scorer
    needs the whole answer; then either its chunks are yielded, or the strong model's stream. A
    directly routed strong call streams at once. Every chunk comes with the answer's metadata.
    """

    def stream(self: Any, text: str, start: ChunkStart, merge: Callable[[list[Any]], Any],
               answer_text: Callable[[Any], str] = str, has_tool_calls: Callable[[Any], bool] = lambda _r: False,
               models: Mapping[Role, str] | None = None) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Yield ``(chunk, metadata)``; ``start(role)`` starts a model's stream, ``merge(chunks)`` is its answer."""
        models = models or {}
        first = self.start([text])[0]
        if first.role == "strong":
            yield from self._relay(first, None, ["strong"], start, models, fallback=True)
            return
        try:
            chunks = list(start("weak"))
        except Exception as exc:  # nothing was sent yet: the strong model may answer
            other = self._fallback_role(first, exc)
            meta = self.metadata(first, None, other, models.get(other), [other], exc)
            yield from ((c, meta) for c in start(other))
            return
        answer = merge(chunks) if chunks else None
        check = self.check([text], [answer_text(answer) if chunks else ""],
                           [bool(chunks) and has_tool_calls(answer)])[0]
        if not check.escalate:
            meta = self.metadata(first, check, "weak", models.get("weak"), ["weak"])
            yield from ((c, meta) for c in chunks)
            return
        try:
            yield from self._relay(first, check, ["weak", "strong"], start, models, fallback=False)
        except Exception as exc:
            self._escalation_failed(first, check, None, models, exc)  # raises unless a provider failure
            meta = self.metadata(first, check, "weak", models.get("weak"), ["weak"], exc)
            yield from ((c, meta) for c in chunks)

    def _relay(self: Any, first: CascadeStart, check: AnswerCheck | None, calls: list[Role], start: ChunkStart,
               models: Mapping[Role, str], fallback: bool) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Stream the strong model; an error before its first chunk falls back (``fallback``) or is raised."""
        chunks: Any = None
        try:
            try:
                chunks = iter(start("strong"))
                head = next(chunks)
            except StopIteration:
                return
            except Exception as exc:
                if not fallback:
                    raise
                _close(chunks)
                other = self._fallback_role(first, exc)
                meta = self.metadata(first, None, other, models.get(other), [other], exc)
                chunks = iter(start(other))
                yield from ((c, meta) for c in chunks)
                return
            meta = self.metadata(first, check, "strong", models.get("strong"), calls)
            yield head, meta
            yield from ((c, meta) for c in chunks)
        finally:
            _close(chunks)

    async def astream(self: Any, text: str, start: ChunkStart, merge: Callable[[list[Any]], Any],
                      answer_text: Callable[[Any], str] = str, has_tool_calls: Callable[[Any], bool] = lambda _r: False,
                      models: Mapping[Role, str] | None = None) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
        """:meth:`stream` for async streams (scoring runs in a worker thread)."""
        import asyncio

        models = models or {}
        first = (await self.astart([text]))[0]
        if first.role == "strong":
            async for item in self._arelay(first, None, ["strong"], start, models, fallback=True):
                yield item
            return
        try:
            chunks = [c async for c in await _aopen(start("weak"))]
        except Exception as exc:
            other = self._fallback_role(first, exc)
            meta = self.metadata(first, None, other, models.get(other), [other], exc)
            async for c in await _aopen(start(other)):
                yield c, meta
            return
        answer = merge(chunks) if chunks else None
        check = (await asyncio.to_thread(self.check, [text], [answer_text(answer) if chunks else ""],
                                         [bool(chunks) and has_tool_calls(answer)]))[0]
        if not check.escalate:
            meta = self.metadata(first, check, "weak", models.get("weak"), ["weak"])
            for c in chunks:
                yield c, meta
            return
        try:
            async for item in self._arelay(first, check, ["weak", "strong"], start, models, fallback=False):
                yield item
        except Exception as exc:
            self._escalation_failed(first, check, None, models, exc)
            meta = self.metadata(first, check, "weak", models.get("weak"), ["weak"], exc)
            for c in chunks:
                yield c, meta

    async def _arelay(self: Any, first: CascadeStart, check: AnswerCheck | None, calls: list[Role],
                      start: ChunkStart, models: Mapping[Role, str],
                      fallback: bool) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
        chunks: Any = None
        try:
            try:
                chunks = await _aopen(start("strong"))
                head = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:
                if not fallback:
                    raise
                await _aclose(chunks)
                other = self._fallback_role(first, exc)
                meta = self.metadata(first, None, other, models.get(other), [other], exc)
                chunks = await _aopen(start(other))
                async for c in chunks:
                    yield c, meta
                return
            meta = self.metadata(first, check, "strong", models.get("strong"), calls)
            yield head, meta
            async for c in chunks:
                yield c, meta
        finally:
            await _aclose(chunks)


async def _aopen(started: Any) -> Any:
    """An async iterator from what ``start(role)`` returned (it may be a coroutine returning one)."""
    import inspect

    return await started if inspect.isawaitable(started) else started


@dataclass(frozen=True, eq=False)
class CascadePolicy(_Streams):
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

    def with_routing(self, routing: RoutingPolicy | None) -> CascadePolicy:
        """This cascade with another prompt stage (a call's overrides), sharing the loaded scorer and threshold."""
        if routing is self.routing:
            return self
        out = CascadePolicy(self.scorer, routing, self.escalate_threshold, self.escalate_fraction,
                            self.calibration_pairs, self.fallback)
        out._state.update(self._state)
        return out

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


def build_cascade(spec: Any, routing: RoutingPolicy | None = None) -> CascadePolicy | None:
    """The cascade a front-end's ``cascade=`` setting describes (None: no cascade).

    ``spec`` is None/False, a :class:`CascadePolicy`, or a mapping of its settings (``scorer``,
    ``escalate_threshold`` or ``escalate_fraction`` + ``calibration_pairs``) with an optional
    ``prompt_routing``: True routes on the prompt first with ``routing`` (the front-end's router),
    False (default) sends every call to the weak model first.
    """
    if spec is None or spec is False:
        return None
    if isinstance(spec, CascadePolicy):
        return spec
    if not isinstance(spec, Mapping):
        raise InvalidInputError(f"cascade must be a CascadePolicy or a dict of its settings (escalate_threshold=..., "
                                f"scorer=...), got {type(spec).__name__}")
    options = dict(spec)
    prompt_routing = bool(options.pop("prompt_routing", False))
    unknown = set(options) - set(CASCADE_OPTIONS)
    if unknown:
        raise InvalidInputError(f"unknown cascade setting(s) {', '.join(sorted(unknown))}: "
                                f"use {', '.join(CASCADE_OPTIONS + ('prompt_routing',))}")
    if prompt_routing and routing is None:
        raise InvalidInputError("cascade prompt_routing=True needs a router and a threshold to route on the prompt")
    fallback = routing.fallback if routing is not None else True
    return CascadePolicy(**options, routing=routing if prompt_routing else None, fallback=fallback)


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
