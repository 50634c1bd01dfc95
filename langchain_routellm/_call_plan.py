"""One ChatRouteLLM call after its decision: which model each attempt calls, with what, and the labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import Runnable, RunnableConfig

from routellm_core import Attempt, RoutingDecision, RoutingPolicy
from routellm_core.fallback import Outcome
from routellm_core.policy import flat_metadata

from ._policy import model_name

if TYPE_CHECKING:
    from .chat_models import ChatRouteLLM


@dataclass
class CallPlan:
    """One call: its decision, and how to call (and label) each role's model."""

    owner: ChatRouteLLM
    parent: BaseCallbackManager | None
    stop: list[str] | None
    kwargs: dict[str, Any]
    tools: list[Any] | None = None
    tool_kwargs: dict[str, Any] = field(default_factory=dict)
    decision: RoutingDecision | None = None

    def attempts(self) -> list[Attempt]:
        assert self.decision is not None
        return self.owner.policy.attempts(self.decision)

    def model(self, attempt: Attempt) -> Runnable:
        model = self.owner._role_model(attempt.role)
        return model.bind_tools(self.tools, **self.tool_kwargs) if self.tools is not None else model

    def call(self, method: str, messages: list[BaseMessage]) -> Any:
        """``lambda attempt: model.<method>(messages, child config, stop=..., **kwargs)``."""
        return lambda attempt: getattr(self.model(attempt), method)(messages, self.config(attempt), stop=self.stop,
                                                                    **self.kwargs)

    def meta(self, attempt: Attempt, error: BaseException | None = None) -> dict[str, Any]:
        assert self.decision is not None
        return RoutingPolicy.metadata(self.decision, attempt.role, model_name(self.owner._role_model(attempt.role)),
                                      error)

    def config(self, attempt: Attempt) -> RunnableConfig:
        config: RunnableConfig = {"metadata": flat_metadata(self.meta(attempt, None)), "tags": [f"routellm:{attempt.role}"]}
        if self.parent is not None:
            config["callbacks"] = self.parent
        return config

    def annotate(self, message: BaseMessage, outcome: Outcome) -> BaseMessage:
        meta = self.meta(outcome.attempt, outcome.error)
        return message.model_copy(update={"response_metadata": {**message.response_metadata, "routellm": meta}})

    def chunk(self, message: BaseMessage, outcome: Outcome, first: bool) -> ChatGenerationChunk:
        return ChatGenerationChunk(message=self.annotate(message, outcome) if first else message)  # type: ignore[arg-type]
