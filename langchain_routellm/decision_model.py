"""``RouteLLMDecisionModel``: a learned router as a LangChain decision model.

LangChain 1.x asks a :class:`~langchain_core.decisions.BaseDecisionModel` typed questions; its
``ModelRouterMiddleware`` asks a ``Choice`` between named models. The usual classifiers are LLM
calls; this one answers from a RouteLLM router in about a millisecond, with the decision taken by
:class:`routellm_core.RoutingPolicy` (P(strong wins) against the threshold or calibrated share).

- ``Choice`` with the two labels ``strong_label`` / ``weak_label`` (defaults ``"strong"`` /
  ``"weak"``): the routed label, probabilities from :meth:`RoutingPolicy.target_probabilities`.
- with ``prices={label: ...}``: a ``Choice`` over those labels, each a model the router knows (or
  mapped to one by ``router_models``), decided by the price rule (docs/multi-model.md).
- ``Noul`` ("is the strong model needed?"): the strong probability (>= 0.5 iff the router says strong).
- Anything else (``Score``, ``Box``, other labels, more than two choices) is an
  :class:`~routellm_core.errors.InvalidInputError` naming the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import dispatch_custom_event
from langchain_core.decisions import (
    BaseDecisionModel,
    Choice,
    ChoiceAnswer,
    ClassifierRequest,
    ClassifierResponse,
    Noul,
    NoulAnswer,
    Question,
)
from langchain_core.messages import BaseMessage, UsageMetadata
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict, Field, PrivateAttr

from routellm_core import Decision, RoutingPolicy
from routellm_core.errors import InvalidInputError
from routellm_core.multi_model import DEFAULT_OUTPUT_TOKENS, make_candidates
from routellm_core.policy import Turn, decide_many

from ._policy import _as_messages
from ._policy import message_turns as _policy_turns
from .runnables import DECISION_EVENT

_NO_USAGE: UsageMetadata = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def message_turns(messages: Sequence[Any]) -> list[Turn]:
    """LangChain messages or OpenAI-style dicts as the policy's turns."""
    return _policy_turns(_as_messages(list(messages)))


def state_text(policy: RoutingPolicy, state: Any) -> str:
    """The text routed for a decision model's ``state``: a string, message(s), or ``{"messages": ...}``."""
    if isinstance(state, str):
        return state
    if isinstance(state, BaseMessage):
        state = [state]
    elif isinstance(state, Mapping):
        if "messages" not in state:
            raise InvalidInputError("RouteLLMDecisionModel routes on text: give the state as a string, messages, "
                                    f"or a mapping with 'messages' (got keys {sorted(state)})")
        state = state["messages"]
    if isinstance(state, Sequence) and not isinstance(state, str | bytes):
        return policy.routed_text(message_turns(state), raw=list(state))
    raise InvalidInputError(f"RouteLLMDecisionModel cannot route on a state of type {type(state).__name__}")


class RouteLLMDecisionModel(BaseDecisionModel):
    """Answer "strong or weak model?" questions with a learned RouteLLM router.

    >>> classifier = RouteLLMDecisionModel(router="mf", threshold=0.12)
    >>> ModelRouterMiddleware(choices={"strong": ..., "weak": ...}, instructions="...",
    ...                       classifier=classifier)  # doctest: +SKIP

    Give ``threshold`` (strong iff P(strong wins) >= it) or ``strong_fraction`` with
    ``calibration_prompts``, or a ready :class:`~routellm_core.RoutingPolicy` as ``policy``.
    ``strong_label`` / ``weak_label`` name the two ``Choice`` labels (e.g. ``"powerful"`` / ``"fast"``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str = Field(default="", description="Reported model name (default 'routellm:<router>').")
    router: Any = Field(default="mf", description="Router name, checkpoint path or Router object.")
    threshold: float | None = Field(default=None, description="Strong iff P(strong wins) >= threshold.")
    strong_fraction: float | None = Field(default=None, description="Target strong share (with calibration_prompts).")
    calibration_prompts: Sequence[str] | None = Field(default=None, description="Prompts the share is calibrated on.")
    route_on: Any = Field(default="last_user", description="'last_user', 'conversation' or f(messages) -> str.")
    on_empty: str = Field(default="error", description="'error', or the role that answers an empty text.")
    strong_label: str = Field(default="strong", description="Choice label meaning the strong model.")
    weak_label: str = Field(default="weak", description="Choice label meaning the weak model.")
    policy: RoutingPolicy | None = Field(default=None, exclude=True,
                                         description="A ready policy (replaces the settings above).")

    prices: dict[str, Any] | None = Field(default=None, description="USD per million tokens per Choice label "
                                                                     "(routes among the labels by price).")
    router_models: dict[str, str] = Field(default_factory=dict, description="Label -> the router's model id.")
    output_tokens: Any = Field(default=DEFAULT_OUTPUT_TOKENS, description="Expected answer tokens (number or per label).")
    top_fraction: float | None = Field(default=None, description="With prices: share on the priciest model.")
    budget_per_1k: float | None = Field(default=None, description="With prices: USD per 1,000 calls on the sample.")

    _policy: RoutingPolicy = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Built here, not in a validator, so a bad setting raises InvalidInputError (not a ValidationError).
        if self.strong_label == self.weak_label:
            raise InvalidInputError(f"strong_label and weak_label must differ, both are {self.strong_label!r}")
        candidates = None
        if self.prices is not None:
            candidates = make_candidates(list(self.prices), self.prices, self.router_models, self.output_tokens)
        self._policy = self.policy or RoutingPolicy(
            self.router, threshold=self.threshold, strong_fraction=self.strong_fraction,
            calibration_prompts=tuple(self.calibration_prompts or ()), route_on=self.route_on,
            on_empty=self.on_empty, candidates=candidates, top_fraction=self.top_fraction,
            budget_per_1k=self.budget_per_1k)
        if not self.model:
            self.model = f"routellm:{self._policy.router_label}"

    @property
    def _provider(self) -> str:
        return "routellm"

    @property
    def routing_policy(self) -> RoutingPolicy:
        """The policy that takes every decision of this model."""
        return self._policy

    # --- questions ------------------------------------------------------------------------------
    @property
    def labels(self) -> dict[str, str]:
        """Choice label of each target the policy decides between."""
        names = {"strong": self.strong_label, "weak": self.weak_label}
        return {key: names.get(key, key) for key in self._policy.targets}

    def check_questions(self, questions: Mapping[str, Question]) -> None:
        """Raise a clear error for a question this router cannot answer."""
        if not questions:
            raise InvalidInputError("RouteLLMDecisionModel needs at least one question")
        labels = list(self.labels.values())
        for qid, question in questions.items():
            if isinstance(question, Noul) and "strong" in self.labels:
                continue
            if not isinstance(question, Choice):
                raise InvalidInputError(f"question {qid!r}: RouteLLMDecisionModel answers Choice and Noul questions "
                                        f"(with prices: Choice questions over the priced models), not "
                                        f"{type(question).__name__}")
            given = list(question.criteria)
            if len(given) > len(labels):
                raise InvalidInputError(f"question {qid!r} has {len(given)} choices {given}, but a RouteLLM router "
                                        f"chooses between {len(labels)} models: {', '.join(map(repr, labels))}")
            if set(given) != set(labels):
                raise InvalidInputError(f"question {qid!r} has labels {given}; RouteLLMDecisionModel answers with "
                                        f"exactly {', '.join(map(repr, labels))}: the labels must be the priced models "
                                        "(prices=...), or the two of strong_label=/weak_label=")

    def _answers(self, questions: Mapping[str, Question], decision: Decision) -> dict[str, Any]:
        labels = self.labels
        probs = {labels[k]: p for k, p in RoutingPolicy.target_probabilities(decision).items()}
        chosen = labels[decision.role]
        answers: dict[str, Any] = {}
        for qid, question in questions.items():
            if isinstance(question, Noul):
                answers[qid] = NoulAnswer(type="noul", noul=probs[self.strong_label])
                continue
            answers[qid] = ChoiceAnswer(type="choice", choice=chosen, confidence=probs[chosen], probabilities=probs)
        return answers

    def _response(self, questions: Mapping[str, Question], decision: Decision,
                  config: RunnableConfig | None = None) -> ClassifierResponse:
        _announce(decision.metadata(), config)
        return ClassifierResponse(model=self.model, answers=self._answers(questions, decision), usage=_NO_USAGE)

    # --- BaseDecisionModel hooks ----------------------------------------------------------------
    def _classify(self, state: Any, questions: dict[str, Question]) -> ClassifierResponse:
        self.check_questions(questions)
        decision = self._policy.decide([state_text(self._policy, state)])[0]
        return self._response(questions, decision)

    async def _aclassify(self, state: Any, questions: dict[str, Question]) -> ClassifierResponse:
        self.check_questions(questions)
        decision = (await self._policy.adecide([state_text(self._policy, state)]))[0]
        return self._response(questions, decision)

    def batch(self, inputs: list[ClassifierRequest], config: RunnableConfig | list[RunnableConfig] | None = None,
              *, return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        """Classify many requests with one router call (one traced run per request)."""
        if not inputs:
            return []
        configs = config if isinstance(config, list) else [config] * len(inputs)
        return self._batch_with_config(self._classify_many, inputs, [self._traced_config(c) for c in configs],
                                       return_exceptions=return_exceptions, run_type="llm")

    def _classify_many(self, requests: list[ClassifierRequest], run_manager: list[Any]) -> list[Any]:
        results: list[Any] = [None] * len(requests)
        pairs: list[tuple[RoutingPolicy, str]] = []
        index: list[int] = []
        for i, request in enumerate(requests):
            try:
                self.check_questions(request["questions"])
                pairs.append((self._policy, state_text(self._policy, request["state"])))
                index.append(i)
            except InvalidInputError as exc:
                results[i] = exc
        for i, decision in zip(index, decide_many(pairs), strict=True):
            if isinstance(decision, Exception):
                results[i] = decision
                continue
            child: RunnableConfig = {"callbacks": run_manager[i].get_child()}
            results[i] = self._response(requests[i]["questions"], decision, child)
        return results


def _announce(meta: dict[str, Any], config: RunnableConfig | None) -> None:
    """Send the decision to callback handlers as a ``routellm_decision`` custom event (if inside a run)."""
    try:
        dispatch_custom_event(DECISION_EVENT, meta, config=config)
    except RuntimeError:  # called outside any run (e.g. _classify directly): nobody to tell
        pass
