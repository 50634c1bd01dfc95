"""``RouteLLMDecisionModel(prices={...})``: a ``Choice`` over more than two priced models.

LangChain's ``ModelRouterMiddleware`` asks its decision model a ``Choice`` between named models.
With ``prices`` the decision model answers it among any number of labels, each a model the router
knows (or mapped to one by ``router_models``); the decision is taken by
:class:`routellm_core.multi_model.MultiModelPolicy` (cheapest candidate no pricier one is needed over).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.decisions import BaseDecisionModel, Choice, ChoiceAnswer, ClassifierResponse, Question
from langchain_core.messages import UsageMetadata
from pydantic import ConfigDict, Field, PrivateAttr

from routellm_core.errors import InvalidInputError
from routellm_core.multi_model import DEFAULT_OUTPUT_TOKENS, MultiModelDecision, MultiModelPolicy, make_candidates

from .decision_model import _announce, message_turns

_NO_USAGE: UsageMetadata = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def choice_probabilities(decision: MultiModelDecision) -> dict[str, float]:
    """A distribution over the labels whose most likely label is the routed one.

    The routed label gets half the mass plus its share of the other half; the other half is split
    in proportion to each candidate's predicted score. Frameworks picking the likeliest label
    therefore agree with the router.
    """
    scores = {c.model: max(c.score, 1e-6) if c.score == c.score else 1.0 for c in decision.candidates}
    total = sum(scores.values())
    return {m: (0.5 if m == decision.model else 0.0) + 0.5 * s / total for m, s in scores.items()}


class MultiModelDecisionModel(BaseDecisionModel):
    """Answer "which of these models?" ``Choice`` questions by price with a learned router."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str = Field(default="", description="Reported model name (default 'routellm-multi:<router>').")
    prices: dict[str, Any] = Field(description="USD per million input/output tokens per Choice label.")
    router_models: dict[str, str] = Field(default_factory=dict, description="Label -> the router's model id.")
    output_tokens: Any = Field(default=DEFAULT_OUTPUT_TOKENS, description="Expected answer tokens (number or per label).")
    router: Any = Field(default="mf", description="Router name, checkpoint path or Router object.")
    threshold: float | None = Field(default=None, description="A pricier model is needed when P(it wins) >= threshold.")
    top_fraction: float | None = Field(default=None, description="Share of calls on the priciest model (calibrated).")
    budget_per_1k: float | None = Field(default=None, description="USD per 1,000 calls on the sample (calibrated).")
    calibration_prompts: Sequence[str] | None = Field(default=None, description="Prompts the knob is calibrated on.")
    route_on: str = Field(default="last_user", description="'last_user' or 'conversation'.")

    _policy: MultiModelPolicy = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = MultiModelPolicy(
            self.router, make_candidates(list(self.prices), self.prices, self.router_models, self.output_tokens),
            threshold=self.threshold, top_fraction=self.top_fraction, budget_per_1k=self.budget_per_1k,
            calibration_prompts=tuple(self.calibration_prompts or ()), route_on=self.route_on)
        if not self.model:
            self.model = f"routellm-multi:{getattr(self.router, 'name', self.router)}"

    @property
    def _provider(self) -> str:
        return "routellm"

    @property
    def routing_policy(self) -> MultiModelPolicy:
        return self._policy

    def check_questions(self, questions: Mapping[str, Question]) -> None:
        """Only ``Choice`` questions whose labels are exactly the priced models."""
        if not questions:
            raise InvalidInputError("RouteLLMDecisionModel needs at least one question")
        for qid, question in questions.items():
            if not isinstance(question, Choice):
                raise InvalidInputError(f"question {qid!r}: with prices, RouteLLMDecisionModel answers Choice "
                                        f"questions over the priced models, not {type(question).__name__}")
            if set(question.criteria) != set(self.prices):
                raise InvalidInputError(f"question {qid!r} has labels {list(question.criteria)}, but prices are given "
                                        f"for {list(self.prices)}: the labels must be the priced models")

    def _text(self, state: Any) -> str:
        if isinstance(state, str):
            return state
        messages = state.get("messages") if isinstance(state, Mapping) else state
        if messages is None:
            raise InvalidInputError("RouteLLMDecisionModel routes on text: give a string, messages or {'messages': ...}")
        return self._policy.routed_text(message_turns(messages if isinstance(messages, Sequence) else [messages]))

    def _response(self, questions: Mapping[str, Question], decision: MultiModelDecision) -> ClassifierResponse:
        _announce(MultiModelPolicy.metadata(decision), None)
        probs = choice_probabilities(decision)
        answers: dict[str, Any] = {qid: ChoiceAnswer(type="choice", choice=decision.model,
                                                     confidence=probs[decision.model],
                                                     probabilities=probs) for qid in questions}
        return ClassifierResponse(model=self.model, answers=answers, usage=_NO_USAGE)

    def _classify(self, state: Any, questions: dict[str, Question]) -> ClassifierResponse:
        self.check_questions(questions)
        return self._response(questions, self._policy.decide([self._text(state)])[0])

    async def _aclassify(self, state: Any, questions: dict[str, Question]) -> ClassifierResponse:
        self.check_questions(questions)
        return self._response(questions, (await self._policy.adecide([self._text(state)]))[0])
