"""``RouteLLMMiddleware``: route a ``create_agent`` agent between a strong and a weak model per task.

A per-call router (``ChatRouteLLM`` as the agent's model) judges every model call, including the
calls that only read a tool result. This middleware judges the *task*: it decides once per user
turn (``before_agent``), keeps that model for the turn's whole tool loop, and swaps the model with
``request.override(model=...)`` in ``wrap_model_call``. The decision is taken by
:class:`routellm_core.RoutingPolicy`; a provider error falls back to the other model through
:class:`routellm_core.fallback.FallbackExecutor`, and the rest of that turn stays on the model
that answered.

The decision is recorded in the agent state (``state["routellm"]``) and on each answer
(``AIMessage.response_metadata["routellm"]``), with the policy's metadata fields.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, NotRequired

from langchain.agents.middleware.types import (
    AgentMiddleware,
    AgentState,
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
)
from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langgraph.types import Command

from routellm_core import Decision, RoutingPolicy
from routellm_core.errors import InvalidInputError
from routellm_core.fallback import Answered, ErrorFilter, FallbackExecutor, is_provider_error
from routellm_core.policy import Attempt, RouterSpec

from .decision_model import message_turns

Scope = Literal["turn", "call", "thread"]
SCOPES = ("turn", "call", "thread")
STATE_KEY = "routellm"


class RouteLLMState(AgentState):
    """Agent state with the routing metadata of the current turn (or the last call)."""

    routellm: NotRequired[dict[str, Any]]


def model_name(model: BaseChatModel) -> str:
    """A chat model's name for metadata (``model_name``/``model`` attribute, else its class)."""
    return str(getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__)


def _chat_model(role: str, model: str | BaseChatModel) -> BaseChatModel:
    if isinstance(model, str):
        return init_chat_model(model)
    if not isinstance(model, BaseChatModel):
        raise InvalidInputError(f"{role} must be a LangChain chat model or a model string, got {type(model).__name__}")
    return model


def _stored_decision(meta: Mapping[str, Any]) -> Decision:
    """The decision a state record was made from (probability/threshold None -> NaN, as on_empty gives)."""
    nan = float("nan")
    prob, threshold = meta.get("probability"), meta.get("threshold")
    return Decision.pair(meta["routed_role"], nan if prob is None else prob, nan if threshold is None else threshold,
                           meta.get("router", ""))


class RouteLLMMiddleware(AgentMiddleware[RouteLLMState]):
    """Send each user turn of a ``create_agent`` agent to the ``strong`` or the ``weak`` model.

    ``scope`` says how long a decision holds: ``"turn"`` (default: decided on the last user
    message when the agent is invoked, kept across that turn's tool calls), ``"call"`` (decided
    again on every model call), or ``"thread"`` (decided on a thread's first turn and kept while
    its state persists, e.g. with a checkpointer). Routing settings are those of
    :class:`~routellm_core.RoutingPolicy` (``router``, ``threshold`` or ``strong_fraction`` with
    ``calibration_prompts``, ``route_on``, ``on_empty``, ``fallback``), or give a ``policy``.
    ``handles`` picks the errors that fall back (default: provider/HTTP/timeout errors).

    >>> agent = create_agent(weak, tools=[...], middleware=[RouteLLMMiddleware(strong=strong, weak=weak,
    ...                                                                        threshold=0.12)])  # doctest: +SKIP
    """

    state_schema = RouteLLMState

    def __init__(self, *, strong: str | BaseChatModel, weak: str | BaseChatModel, router: RouterSpec = "mf",
                 threshold: float | None = None, strong_fraction: float | None = None,
                 calibration_prompts: Sequence[str] | None = None, scope: Scope = "turn", route_on: Any = "last_user",
                 on_empty: Literal["error", "strong", "weak"] = "error", fallback: bool = True,
                 policy: RoutingPolicy | None = None, embedder: Any = None, handles: ErrorFilter = is_provider_error,
                 ) -> None:
        if scope not in SCOPES:
            raise InvalidInputError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        super().__init__()
        self.policy = policy or RoutingPolicy(router, threshold=threshold, strong_fraction=strong_fraction,
                                              calibration_prompts=tuple(calibration_prompts or ()), route_on=route_on,
                                              on_empty=on_empty, fallback=fallback, embedder=embedder)
        self.scope = scope
        self.models = {"strong": _chat_model("strong", strong), "weak": _chat_model("weak", weak)}
        self.executor = FallbackExecutor(handles=handles,
                                         describe=lambda role: f"{role} model ({model_name(self.models[role])})")

    # --- deciding -------------------------------------------------------------------------------
    def _text(self, messages: Sequence[Any]) -> str:
        return self.policy.routed_text(message_turns(messages), raw=list(messages))

    def _record(self, decision: Decision) -> dict[str, Any]:
        return {STATE_KEY: self.policy.metadata(decision, model=model_name(self.models[decision.role]))}

    def _kept(self, state: Mapping[str, Any]) -> dict[str, Any] | None:
        """The state update for a turn that keeps the stored decision; None when a new one is needed.

        Scope ``call`` decides per call (nothing to store); scope ``thread`` keeps the thread's
        decision but starts each turn on the routed model again (a fallback lasts one turn).
        """
        if self.scope == "call":
            return {}
        stored = state.get(STATE_KEY) if self.scope == "thread" else None
        return None if stored is None else self._record(_stored_decision(stored))

    def before_agent(self, state: RouteLLMState, runtime: Any) -> dict[str, Any] | None:
        """Decide once for the user turn that starts (scope ``turn``, or a thread's first turn)."""
        kept = self._kept(state)
        if kept is not None:
            return kept or None
        return self._record(self.policy.decide([self._text(state["messages"])])[0])

    async def abefore_agent(self, state: RouteLLMState, runtime: Any) -> dict[str, Any] | None:
        kept = self._kept(state)
        if kept is not None:
            return kept or None
        return self._record((await self.policy.adecide([self._text(state["messages"])]))[0])

    # --- calling --------------------------------------------------------------------------------
    def _plan(self, request: ModelRequest,
              decision: Decision | None) -> tuple[Decision, list[Attempt], dict[str, Any]]:
        """The decision for this call, the models to try in order, and the turn's record so far.

        Within a turn, once the routed model has failed and the other one answered, the other one
        is tried first for the rest of the turn (one model per turn, no repeated failures).
        """
        previous: dict[str, Any] = dict(request.state.get(STATE_KEY) or {})  # type: ignore[call-overload]
        if decision is None:
            decision = _stored_decision(previous)
        first = decision
        if self.scope != "call" and previous.get("fallback"):
            first = Decision.pair(previous["role"], decision.probability, decision.threshold, decision.router)
        else:
            previous = {}
        return decision, self.policy.attempts(first), previous

    def _finish(self, response: Any, decision: Decision, outcome: Answered,
                previous: dict[str, Any]) -> ExtendedModelResponse:
        """Label the answer with the decision, and store it in the agent state."""
        role = outcome.attempt.role
        meta = self.policy.metadata(decision, role, model_name(self.models[role]), outcome.error)
        if meta["fallback"] and meta["fallback_error"] is None:
            meta["fallback_error"] = previous.get("fallback_error")
        result = response.model_response if isinstance(response, ExtendedModelResponse) else response
        if isinstance(result, AIMessage):
            result = ModelResponse(result=[result])
        for message in result.result:
            if isinstance(message, AIMessage):
                message.response_metadata = {**message.response_metadata, STATE_KEY: meta}
        return ExtendedModelResponse(model_response=result, command=Command(update={STATE_KEY: meta}))

    def _call(self, request: ModelRequest, handler: Callable[[ModelRequest], Any]) -> Callable[[Attempt], Any]:
        return lambda attempt: handler(request.override(model=self.models[attempt.role]))

    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]) -> Any:
        """Call the turn's model (falling back to the other one on a provider error)."""
        fresh = self.policy.decide([self._text(request.messages)])[0] if self._decides_now(request) else None
        decision, attempts, previous = self._plan(request, fresh)
        response, outcome = self.executor.run(attempts, self._call(request, handler))
        return self._finish(response, decision, outcome, previous)

    async def awrap_model_call(self, request: ModelRequest,
                               handler: Callable[[ModelRequest], Awaitable[ModelResponse]]) -> Any:
        fresh = (await self.policy.adecide([self._text(request.messages)]))[0] if self._decides_now(request) else None
        decision, attempts, previous = self._plan(request, fresh)
        response, outcome = await self.executor.arun(attempts, self._call(request, handler))
        return self._finish(response, decision, outcome, previous)

    def _decides_now(self, request: ModelRequest) -> bool:
        """Scope ``call`` decides on every model call; the others when no decision is stored yet."""
        return self.scope == "call" or STATE_KEY not in request.state
