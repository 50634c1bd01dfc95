"""``RouteLLM``: a LlamaIndex LLM that sends each call to a strong or a weak LLM, as a router decides.

Use it wherever LlamaIndex takes an LLM (``Settings.llm``, ``index.as_query_engine(llm=...)``,
chat engines, ``FunctionAgent``). The engine's ``RoutingPolicy`` decides on the call's text; the
chosen LLM answers (streaming and tool calling included) through the engine's fallback executor,
and the decision labels ``response.additional_kwargs["routellm"]`` and ``response.raw["routellm"]``
and goes to LlamaIndex's event handlers as a :class:`~llamaindex_routellm.events.RouteLLMRoutingEvent`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import Any, Literal, Optional, Union

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny, field_serializer
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection

from routellm_core import FallbackExecutor, Router, RoutingDecision, RoutingPolicy
from routellm_core.cascade_policy import CascadePolicy
from routellm_core.errors import InvalidInputError
from routellm_core.policy import check_route_on, other_role

from . import _cascade
from ._query import ROUTING_QUERY, QueryRoutedPredict
from ._responses import R, annotate, redact
from .routing import Role, RouterSpec, announce, build_policy, message_turns

RouteOn = Union[Literal["last_user", "conversation"], Callable[[list[ChatMessage]], str]]
# Key under which _prepare_chat_with_tools defers tool formatting to the routed LLM.
_TOOLS_KEY = "_routellm_tool_request"


def _conversation(user_msg: Optional[Union[str, ChatMessage]], chat_history: Optional[Sequence[ChatMessage]]) -> list[ChatMessage]:
    messages = list(chat_history or [])
    if user_msg is not None:
        messages.append(ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str) else user_msg)
    return messages


def _tool_llm(llm: LLM) -> FunctionCallingLLM:
    if not isinstance(llm, FunctionCallingLLM):
        raise InvalidInputError(f"{type(llm).__name__} ({llm.metadata.model_name}) does not support tool calling")
    return llm


def deferred_tool_request(tools: Sequence[Any], user_msg: Optional[Union[str, ChatMessage]],
                          chat_history: Optional[list[ChatMessage]], **options: Any) -> dict[str, Any]:
    """``_prepare_chat_with_tools`` of a routed LLM: keep the tools for the chosen LLM to format itself.

    FunctionCallingLLM's ``chat_with_tools`` (and agents through it) then calls ``chat``, which
    routes on the messages and calls the chosen LLM's own ``chat_with_tools`` (:func:`chat_call`).
    """
    return {"messages": _conversation(user_msg, chat_history), _TOOLS_KEY: {"tools": tools, **options}}


def chat_call(kind: str, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> Callable[[LLM], Any]:
    """What to call on the routed LLM: its plain chat method, or its tool-calling variant."""
    request = kwargs.pop(_TOOLS_KEY, None)
    if request is None:
        return lambda llm: getattr(llm, kind)(list(messages), **kwargs)
    return lambda llm: getattr(_tool_llm(llm), f"{kind}_with_tools")(chat_history=list(messages), **request, **kwargs)


class RouteLLM(QueryRoutedPredict, FunctionCallingLLM):
    """Route each call between a ``strong`` and a ``weak`` LlamaIndex LLM.

    The router gives P(strong wins) for the routed text; the strong LLM answers iff it is at least
    ``threshold`` (or the threshold calibrated so that ``strong_fraction`` of
    ``calibration_prompts`` go strong). ``route_on`` picks the text: the last user message
    (default), the whole conversation, or a callable on the message list. With ``route_on_query``
    (default) a call made through a prompt template that has a ``query_str`` (query engines,
    response synthesizers) is routed on that raw query instead of the filled-in prompt.
    If the chosen LLM fails with a provider error and ``fallback`` is on, the other one answers
    (``fallback=True`` in the metadata); if both fail, the first error is raised.
    ``cascade`` (a ``CascadePolicy`` or a dict such as ``{"escalate_threshold": 0.6}``) turns on
    answer-aware routing: the weak LLM answers first and the engine escalates to the strong one
    when the answer looks inadequate (see docs/cascade.md); with a threshold the router still
    decides on the prompt first.

    >>> llm = RouteLLM(strong=OpenAI(model="gpt-4o"), weak=OpenAI(model="gpt-4o-mini"), threshold=0.12)
    >>> index.as_query_engine(llm=llm).query("...").metadata  # doctest: +SKIP
    """

    strong: SerializeAsAny[LLM] = Field(description="LLM for prompts the router expects the weak one to lose.")
    weak: SerializeAsAny[LLM] = Field(description="Cheaper LLM for everything else.")
    router: str = Field(default="mf", description="Router name or checkpoint path (a Router object's name).")
    threshold: float = Field(ge=0.0, le=1.0, description="Strong iff P(strong wins) >= threshold.")
    strong_fraction: Optional[float] = Field(default=None, description="Target strong share the threshold was calibrated for.")
    route_on: RouteOn = Field(default="last_user", description="'last_user', 'conversation' or f(messages) -> str.")
    route_on_query: bool = Field(default=True, description="Route template calls on their query_str when present.")
    fallback: bool = Field(default=True, description="If the chosen LLM fails, let the other one answer.")
    on_empty: Literal["error", "strong", "weak"] = Field(default="error", description="Calls with no text to route on.")

    _policy: RoutingPolicy = PrivateAttr()
    _cascade: Optional[CascadePolicy] = PrivateAttr(default=None)

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        """``RouteLLM(models={...}, prices={...})`` builds the multi-model LLM (docs/multi-model.md)."""
        if cls is RouteLLM and "models" in kwargs:
            from .multi_model import MultiModelRouteLLM

            return MultiModelRouteLLM(**kwargs)
        return super().__new__(cls)

    def __init__(self, strong: LLM, weak: LLM, router: RouterSpec = "mf", threshold: Optional[float] = None,
                 strong_fraction: Optional[float] = None, calibration_prompts: Optional[Sequence[str]] = None,
                 route_on: RouteOn = "last_user", route_on_query: bool = True, fallback: bool = True,
                 on_empty: Literal["error", "strong", "weak"] = "error", embed_model: Any = None,
                 cascade: Any = None, **kwargs: Any) -> None:
        for role, llm in (("strong", strong), ("weak", weak)):
            if not isinstance(llm, LLM):
                raise InvalidInputError(f"{role} must be a LlamaIndex LLM, got {type(llm).__name__}")
        route_on = check_route_on(route_on)
        routed = threshold is not None or strong_fraction is not None
        threshold = _cascade.cascade_threshold(cascade, threshold, strong_fraction)
        policy = build_policy(router, threshold, strong_fraction, calibration_prompts, embed_model,
                              route_on=route_on, on_empty=on_empty, fallback=fallback)
        label = router.name if isinstance(router, Router) else str(router)
        super().__init__(strong=strong, weak=weak, router=label, threshold=policy.resolved_threshold(),
                         strong_fraction=strong_fraction, route_on=route_on, route_on_query=route_on_query,
                         fallback=fallback, on_empty=on_empty, **kwargs)
        self._policy = policy
        self._cascade = _cascade.resolve_cascade(cascade, policy, routed)

    @classmethod
    def class_name(cls) -> str:
        return "RouteLLM"

    @field_serializer("route_on")
    def _serialize_route_on(self, value: RouteOn) -> str:
        return value if isinstance(value, str) else getattr(value, "__qualname__", repr(value))

    @field_serializer("strong", "weak")
    def _serialize_llm(self, llm: LLM) -> dict[str, Any]:
        return redact(llm.to_dict())

    @property
    def policy(self) -> RoutingPolicy:
        """The engine's decision layer this LLM routes with."""
        return self._policy

    def to_payload(self) -> dict[str, Any]:
        """Non-sensitive description for observability: metadata plus the routing setup."""
        return {**super().to_payload(), "router": self._policy.resolved_router().name, "threshold": self.threshold,
                "strong": self.strong.to_payload(), "weak": self.weak.to_payload()}

    @property
    def metadata(self) -> LLMMetadata:
        s, w = self.strong.metadata, self.weak.metadata
        return LLMMetadata(
            context_window=min(s.context_window, w.context_window),
            num_output=max(s.num_output, w.num_output),
            is_chat_model=s.is_chat_model and w.is_chat_model,
            is_function_calling_model=s.is_function_calling_model and w.is_function_calling_model,
            model_name=f"routellm({self._policy.resolved_router().name}:{s.model_name}|{w.model_name})",
            system_role=s.system_role if s.system_role == w.system_role else MessageRole.SYSTEM,
        )

    # --- routing: messages -> the policy's decision ---------------------------------------------
    def routed_text(self, messages: Sequence[ChatMessage]) -> str:
        """The text the router judges for these messages (see ``route_on`` / ``route_on_query``)."""
        query = ROUTING_QUERY.get() if self.route_on_query and not callable(self.route_on) else None
        return query or self._policy.routed_text(message_turns(messages), raw=list(messages))

    def route(self, text: str) -> RoutingDecision:
        """The decision for a text, without calling any LLM."""
        return self._policy.decide([text])[0]

    def _decide(self, messages: Sequence[ChatMessage]) -> RoutingDecision:
        return self.route(self.routed_text(messages))

    async def _adecide(self, messages: Sequence[ChatMessage]) -> RoutingDecision:
        return (await self._policy.adecide([self.routed_text(messages)]))[0]

    def _llm(self, role: Role) -> LLM:
        return self.strong if role == "strong" else self.weak

    @property
    def _executor(self) -> FallbackExecutor:
        return FallbackExecutor(describe=lambda role: f"{role} LLM ({self._llm(role).metadata.model_name})")  # type: ignore[arg-type]

    def _label(self, decision: RoutingDecision, outcome: Any) -> dict[str, Any]:
        role = outcome.attempt.role
        return announce(decision, role, self._llm(role).metadata.model_name, outcome.error, "llm")

    def _run(self, decision: RoutingDecision, call: Callable[[LLM], R]) -> R:
        result, outcome = self._executor.run(self._policy.attempts(decision), lambda a: call(self._llm(a.role)))
        return annotate(result, self._label(decision, outcome))

    async def _arun(self, decision: RoutingDecision, call: Callable[[LLM], Any]) -> Any:
        result, outcome = await self._executor.arun(self._policy.attempts(decision), lambda a: call(self._llm(a.role)))
        return annotate(result, self._label(decision, outcome))

    def _stream(self, decision: RoutingDecision, start: Callable[[LLM], Any]) -> Generator[Any, None, None]:
        """Stream from the routed LLM; fall back only if it fails before its first chunk."""
        payload = None
        for chunk, outcome in self._executor.stream(self._policy.attempts(decision), lambda a: start(self._llm(a.role))):
            payload = payload or self._label(decision, outcome)
            yield annotate(chunk, payload)

    async def _astream(self, decision: RoutingDecision, start: Callable[[LLM], Any]) -> AsyncGenerator[Any, None]:
        payload = None
        async for chunk, outcome in self._executor.astream(self._policy.attempts(decision),
                                                           lambda a: start(self._llm(a.role))):
            payload = payload or self._label(decision, outcome)
            yield annotate(chunk, payload)

    def _chat_call(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any], kind: str) -> Callable[[LLM], Any]:
        return chat_call(kind, messages, kwargs)

    @staticmethod
    def _user(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    # --- chat and completion (LlamaIndex's callback decorators report each call) -------------------
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self._cascade is not None:
            return _cascade.run(self, self._cascade, self.routed_text(messages), self._chat_call(messages, kwargs, "chat"))
        return self._run(self._decide(messages), self._chat_call(messages, kwargs, "chat"))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self._cascade is not None:
            return await _cascade.arun(self, self._cascade, self.routed_text(messages),
                                       self._chat_call(messages, kwargs, "achat"))
        return await self._arun(await self._adecide(messages), self._chat_call(messages, kwargs, "achat"))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        if self._cascade is not None:
            return _cascade.stream(self, self._cascade, self.routed_text(messages),
                                   self._chat_call(messages, kwargs, "stream_chat"))
        return self._stream(self._decide(messages), self._chat_call(messages, kwargs, "stream_chat"))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        if self._cascade is not None:
            return _cascade.astream(self, self._cascade, self.routed_text(messages),
                                    self._chat_call(messages, kwargs, "astream_chat"))
        return self._astream(await self._adecide(messages), self._chat_call(messages, kwargs, "astream_chat"))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        if self._cascade is not None:
            return _cascade.run(self, self._cascade, self.routed_text(self._user(prompt)),
                                lambda llm: llm.complete(prompt, formatted=formatted, **kwargs))
        return self._run(self._decide(self._user(prompt)), lambda llm: llm.complete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        if self._cascade is not None:
            return await _cascade.arun(self, self._cascade, self.routed_text(self._user(prompt)),
                                       lambda llm: llm.acomplete(prompt, formatted=formatted, **kwargs))
        return await self._arun(await self._adecide(self._user(prompt)),
                                lambda llm: llm.acomplete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        if self._cascade is not None:
            return _cascade.stream(self, self._cascade, self.routed_text(self._user(prompt)),
                                   lambda llm: llm.stream_complete(prompt, formatted=formatted, **kwargs))
        return self._stream(self._decide(self._user(prompt)), lambda llm: llm.stream_complete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        if self._cascade is not None:
            return _cascade.astream(self, self._cascade, self.routed_text(self._user(prompt)),
                                    lambda llm: llm.astream_complete(prompt, formatted=formatted, **kwargs))
        return self._astream(await self._adecide(self._user(prompt)),
                             lambda llm: llm.astream_complete(prompt, formatted=formatted, **kwargs))

    # --- tool calling ---------------------------------------------------------------------------
    def _prepare_chat_with_tools(self, tools: Sequence[Any], user_msg: Optional[Union[str, ChatMessage]] = None,
                                 chat_history: Optional[list[ChatMessage]] = None, verbose: bool = False,
                                 allow_parallel_tool_calls: bool = False, tool_required: bool = False,
                                 **kwargs: Any) -> dict[str, Any]:
        """Defer tool formatting to the routed LLM: the strong and weak LLMs may format tools differently."""
        return deferred_tool_request(tools, user_msg, chat_history, verbose=verbose, tool_required=tool_required,
                                     allow_parallel_tool_calls=allow_parallel_tool_calls, **kwargs)

    def get_tool_calls_from_response(self, response: ChatResponse, error_on_no_tool_call: bool = True,
                                     **kwargs: Any) -> list[ToolSelection]:
        """Parse tool calls with the LLM that produced ``response`` (the strong one if unknown)."""
        role = ((response.additional_kwargs or {}).get("routellm") or {}).get("role", "strong")
        llm = self._llm(role)
        if not isinstance(llm, FunctionCallingLLM):
            llm = self._llm(other_role(role))
        return _tool_llm(llm).get_tool_calls_from_response(response, error_on_no_tool_call=error_on_no_tool_call,
                                                           **kwargs)
