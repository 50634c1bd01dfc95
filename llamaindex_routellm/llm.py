"""``RouteLLM``: a LlamaIndex LLM that sends each call to a strong or a weak LLM, as a router decides.

Use it wherever LlamaIndex takes an LLM (``Settings.llm``, ``index.as_query_engine(llm=...)``,
chat engines, ``FunctionAgent``). Every call is routed on its text, delegated to the chosen LLM
(streaming and tool calling included), and labelled with the decision in
``response.additional_kwargs["routellm"]`` and ``response.raw["routellm"]``, and a
:class:`~llamaindex_routellm.events.RouteLLMRoutingEvent` is sent to LlamaIndex's event handlers.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Literal, Optional, TypeVar, Union

from llama_index.core.base.llms.types import (ChatMessage, ChatResponse, ChatResponseAsyncGen, ChatResponseGen,
                                              CompletionResponse, CompletionResponseAsyncGen,
                                              CompletionResponseGen, LLMMetadata, MessageRole)
from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr, SerializeAsAny, field_serializer
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection
from routellm_core import Router, RoutingDecision
from routellm_core.errors import InvalidInputError

from .events import emit_routing_event
from .routing import Role, Routing, RouterSpec, decision_payload, other

R = TypeVar("R", ChatResponse, CompletionResponse)
RouteOn = Union[Literal["last_user", "conversation"], Callable[[list[ChatMessage]], str]]

# The raw user query of the prompt being predicted (set by predict/stream when the template has a
# ``query_str``, as every LlamaIndex response synthesizer's does), so the router judges the
# question rather than the question buried under retrieved context.
_ROUTING_QUERY: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("routellm_query", default=None)
# Key under which _prepare_chat_with_tools defers tool formatting to the routed LLM.
_TOOLS_KEY = "_routellm_tool_request"
_EMPTY = object()


def _template_query(prompt: Any, prompt_args: dict[str, Any]) -> Optional[str]:
    """The ``query_str`` of a template call: a format argument, or bound earlier with ``partial_format``."""
    query = prompt_args.get("query_str")
    if query is None:
        query = (getattr(prompt, "kwargs", None) or {}).get("query_str")
    return query if isinstance(query, str) and query.strip() else None


@contextlib.contextmanager
def _query_scope(query: Optional[str]) -> Iterator[None]:
    token = _ROUTING_QUERY.set(query)
    try:
        yield
    finally:
        _ROUTING_QUERY.reset(token)


def _scoped_iter(items: Iterator[Any], query: Optional[str]) -> Iterator[Any]:
    """Iterate with the routing query set only while the inner generator runs (never across yields)."""
    while True:
        with _query_scope(query):
            item = next(items, _EMPTY)
        if item is _EMPTY:
            return
        yield item


async def _scoped_aiter(items: AsyncIterator[Any], query: Optional[str]) -> AsyncIterator[Any]:
    while True:
        with _query_scope(query):
            item = await anext(items, _EMPTY)
        if item is _EMPTY:
            return
        yield item


def _conversation(user_msg: Optional[Union[str, ChatMessage]], chat_history: Optional[Sequence[ChatMessage]]) -> list[ChatMessage]:
    messages = list(chat_history or [])
    if user_msg is not None:
        messages.append(ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str) else user_msg)
    return messages


def _routed_raw(raw: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The underlying raw response as a dict (its fields kept at the top level) plus ``routellm``."""
    if raw is None:
        base: dict[str, Any] = {}
    elif isinstance(raw, dict):
        base = dict(raw)
    elif isinstance(raw, BaseModel):
        base = raw.model_dump()
    else:
        base = {"raw": raw}
    base["routellm"] = payload
    return base


def _annotate(response: R, payload: dict[str, Any]) -> R:
    response.additional_kwargs = {**(response.additional_kwargs or {}), "routellm": payload}
    response.raw = _routed_raw(response.raw, payload)
    return response


_SECRET_KEYS = {"api_key", "api_secret", "secret", "password", "token", "access_token", "aws_secret_access_key",
                "aws_session_token", "default_headers", "additional_headers"}


def _redact(data: Any) -> Any:
    """A dump without credentials: wrapped LLMs' own dumps may carry their API keys or auth headers."""
    if isinstance(data, dict):
        return {k: _redact(v) for k, v in data.items()
                if not (isinstance(k, str) and (k.lower() in _SECRET_KEYS or k.lower().endswith("_api_key")))}
    if isinstance(data, list):
        return [_redact(v) for v in data]
    return data


def _tool_llm(llm: LLM) -> FunctionCallingLLM:
    if not isinstance(llm, FunctionCallingLLM):
        raise InvalidInputError(f"{type(llm).__name__} ({llm.metadata.model_name}) does not support tool calling")
    return llm


class RouteLLM(FunctionCallingLLM):
    """Route each call between a ``strong`` and a ``weak`` LlamaIndex LLM.

    The router gives P(strong wins) for the routed text; the strong LLM answers iff it is at least
    ``threshold`` (or the threshold calibrated so that ``strong_fraction`` of
    ``calibration_prompts`` go strong). ``route_on`` picks the text: the last user message
    (default), the whole conversation, or a callable on the message list. With ``route_on_query``
    (default) a call made through a prompt template that has a ``query_str`` (query engines,
    response synthesizers) is routed on that raw query instead of the filled-in prompt.
    If the chosen LLM raises and ``fallback`` is on, the other one answers (``fallback=True`` in
    the metadata); if both fail, the first error is raised.

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
    fallback: bool = Field(default=True, description="If the chosen LLM raises, let the other one answer.")

    _routing: Routing = PrivateAttr()

    def __init__(self, strong: LLM, weak: LLM, router: RouterSpec = "mf", threshold: Optional[float] = None,
                 strong_fraction: Optional[float] = None, calibration_prompts: Optional[Sequence[str]] = None,
                 route_on: RouteOn = "last_user", route_on_query: bool = True, fallback: bool = True,
                 embed_model: Any = None, **kwargs: Any) -> None:
        for role, llm in (("strong", strong), ("weak", weak)):
            if not isinstance(llm, LLM):
                raise InvalidInputError(f"{role} must be a LlamaIndex LLM, got {type(llm).__name__}")
        if not callable(route_on) and route_on not in ("last_user", "conversation"):
            raise InvalidInputError(f"route_on must be 'last_user', 'conversation' or a callable, got {route_on!r}")
        routing = Routing.build(router, threshold, strong_fraction, calibration_prompts, embed_model)
        label = router.name if isinstance(router, Router) else str(router)
        super().__init__(strong=strong, weak=weak, router=label, threshold=routing.threshold,
                         strong_fraction=strong_fraction, route_on=route_on, route_on_query=route_on_query,
                         fallback=fallback, **kwargs)
        self._routing = routing

    @classmethod
    def class_name(cls) -> str:
        return "RouteLLM"

    @field_serializer("route_on")
    def _serialize_route_on(self, value: RouteOn) -> str:
        return value if isinstance(value, str) else getattr(value, "__qualname__", repr(value))

    @field_serializer("strong", "weak")
    def _serialize_llm(self, llm: LLM) -> dict[str, Any]:
        return _redact(llm.to_dict())

    def to_payload(self) -> dict[str, Any]:
        """Non-sensitive description for observability: metadata plus the routing setup."""
        return {**super().to_payload(), "router": self._routing.router_name, "threshold": self.threshold,
                "strong": self.strong.to_payload(), "weak": self.weak.to_payload()}

    @property
    def metadata(self) -> LLMMetadata:
        s, w = self.strong.metadata, self.weak.metadata
        return LLMMetadata(
            context_window=min(s.context_window, w.context_window),
            num_output=max(s.num_output, w.num_output),
            is_chat_model=s.is_chat_model and w.is_chat_model,
            is_function_calling_model=s.is_function_calling_model and w.is_function_calling_model,
            model_name=f"routellm({self._routing.router_name}:{s.model_name}|{w.model_name})",
            system_role=s.system_role if s.system_role == w.system_role else MessageRole.SYSTEM,
        )

    # --- routing --------------------------------------------------------------------------------
    def routed_text(self, messages: Sequence[ChatMessage]) -> str:
        """The text the router judges for these messages (see ``route_on`` / ``route_on_query``)."""
        if callable(self.route_on):
            return str(self.route_on(list(messages)) or "")
        query = _ROUTING_QUERY.get() if self.route_on_query else None
        if query:
            return query
        if self.route_on == "conversation":
            return "\n".join(f"{m.role.value}: {m.content}" for m in messages
                             if m.role != MessageRole.SYSTEM and m.content)
        for message in reversed(messages):
            if message.role == MessageRole.USER and message.content and message.content.strip():
                return message.content
        # No user text (e.g. only a system prompt): judge the last message that has any text.
        return next((m.content for m in reversed(messages) if m.content and m.content.strip()), "")

    def route(self, text: str) -> RoutingDecision:
        """The decision for a text, without calling any LLM."""
        return self._routing.decide(text)

    def _llm(self, role: Role) -> LLM:
        return self.strong if role == "strong" else self.weak

    def _finish(self, decision: RoutingDecision, role: Role, error: Optional[BaseException]) -> dict[str, Any]:
        """The decision payload for the LLM that answered, announced to event handlers."""
        payload = decision_payload(decision, role, self._llm(role).metadata.model_name, error is not None, error)
        emit_routing_event(payload, "llm")
        return payload

    def _attempt_roles(self, decision: RoutingDecision) -> list[Role]:
        return [decision.role, other(decision.role)] if self.fallback else [decision.role]

    def _failed(self, errors: list[tuple[Role, BaseException]]) -> BaseException:
        """The first error, with a note on each fallback failure."""
        first = errors[0][1]
        for role, exc in errors[1:]:
            first.add_note(f"RouteLLM fallback to the {role} LLM ({self._llm(role).metadata.model_name}) "
                           f"also failed: {type(exc).__name__}: {exc}")
        return first

    def _run(self, decision: RoutingDecision, call: Callable[[LLM], R]) -> R:
        errors: list[tuple[Role, BaseException]] = []
        for role in self._attempt_roles(decision):
            try:
                result = call(self._llm(role))
            except Exception as exc:  # noqa: BLE001 - any provider error triggers the fallback
                errors.append((role, exc))
                continue
            return _annotate(result, self._finish(decision, role, errors[0][1] if errors else None))
        raise self._failed(errors)

    async def _arun(self, decision: RoutingDecision, call: Callable[[LLM], Awaitable[R]]) -> R:
        errors: list[tuple[Role, BaseException]] = []
        for role in self._attempt_roles(decision):
            try:
                result = await call(self._llm(role))
            except Exception as exc:  # noqa: BLE001
                errors.append((role, exc))
                continue
            return _annotate(result, self._finish(decision, role, errors[0][1] if errors else None))
        raise self._failed(errors)

    def _stream(self, decision: RoutingDecision, start: Callable[[LLM], Iterator[R]]) -> Iterator[R]:
        """Stream from the routed LLM; fall back only if it fails before its first chunk."""
        errors: list[tuple[Role, BaseException]] = []
        for role in self._attempt_roles(decision):
            try:
                chunks = iter(start(self._llm(role)))
                first = next(chunks, _EMPTY)
            except Exception as exc:  # noqa: BLE001
                errors.append((role, exc))
                continue
            payload: Optional[dict[str, Any]] = None
            if first is not _EMPTY:
                payload = self._finish(decision, role, errors[0][1] if errors else None)
                yield _annotate(first, payload)
            for chunk in chunks:
                yield _annotate(chunk, payload)
            return
        raise self._failed(errors)

    async def _astream(self, decision: RoutingDecision, start: Callable[[LLM], Awaitable[AsyncIterator[R]]]) -> AsyncIterator[R]:
        errors: list[tuple[Role, BaseException]] = []
        for role in self._attempt_roles(decision):
            try:
                chunks = await start(self._llm(role))
                first = await anext(chunks, _EMPTY)
            except Exception as exc:  # noqa: BLE001
                errors.append((role, exc))
                continue
            payload: Optional[dict[str, Any]] = None
            if first is not _EMPTY:
                payload = self._finish(decision, role, errors[0][1] if errors else None)
                yield _annotate(first, payload)
            async for chunk in chunks:
                yield _annotate(chunk, payload)
            return
        raise self._failed(errors)

    def _completion_messages(self, prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    # --- chat -----------------------------------------------------------------------------------
    def _chat_call(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any], kind: str) -> Callable[[LLM], Any]:
        """What to call on the routed LLM: its plain chat method, or its tool-calling variant."""
        request = kwargs.pop(_TOOLS_KEY, None)
        if request is None:
            return lambda llm: getattr(llm, kind)(list(messages), **kwargs)
        return lambda llm: getattr(_tool_llm(llm), f"{kind}_with_tools")(chat_history=list(messages), **request, **kwargs)

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        call = self._chat_call(messages, kwargs, "chat")
        return self._run(self.route(self.routed_text(messages)), call)

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        call = self._chat_call(messages, kwargs, "achat")
        return await self._arun(await self._routing.adecide(self.routed_text(messages)), call)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        call = self._chat_call(messages, kwargs, "stream_chat")
        return self._stream(self.route(self.routed_text(messages)), call)

    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        call = self._chat_call(messages, kwargs, "astream_chat")
        return self._astream(await self._routing.adecide(self.routed_text(messages)), call)

    # --- completion -----------------------------------------------------------------------------
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        decision = self.route(self.routed_text(self._completion_messages(prompt)))
        return self._run(decision, lambda llm: llm.complete(prompt, formatted=formatted, **kwargs))

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        decision = await self._routing.adecide(self.routed_text(self._completion_messages(prompt)))
        return await self._arun(decision, lambda llm: llm.acomplete(prompt, formatted=formatted, **kwargs))

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        decision = self.route(self.routed_text(self._completion_messages(prompt)))
        return self._stream(decision, lambda llm: llm.stream_complete(prompt, formatted=formatted, **kwargs))

    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        decision = await self._routing.adecide(self.routed_text(self._completion_messages(prompt)))
        return self._astream(decision, lambda llm: llm.astream_complete(prompt, formatted=formatted, **kwargs))

    # --- tool calling ---------------------------------------------------------------------------
    def _prepare_chat_with_tools(self, tools: Sequence[Any], user_msg: Optional[Union[str, ChatMessage]] = None,
                                 chat_history: Optional[list[ChatMessage]] = None, verbose: bool = False,
                                 allow_parallel_tool_calls: bool = False, tool_required: bool = False,
                                 **kwargs: Any) -> dict[str, Any]:
        """Defer tool formatting to the routed LLM: the strong and weak LLMs may format tools differently.

        FunctionCallingLLM's ``chat_with_tools`` (and agents through it) then calls ``self.chat``,
        which routes on the messages and calls the chosen LLM's own ``chat_with_tools``.
        """
        request = {"tools": tools, "verbose": verbose, "allow_parallel_tool_calls": allow_parallel_tool_calls,
                   "tool_required": tool_required, **kwargs}
        return {"messages": _conversation(user_msg, chat_history), _TOOLS_KEY: request}

    def get_tool_calls_from_response(self, response: ChatResponse, error_on_no_tool_call: bool = True,
                                     **kwargs: Any) -> list[ToolSelection]:
        """Parse tool calls with the LLM that produced ``response`` (the strong one if unknown)."""
        role = ((response.additional_kwargs or {}).get("routellm") or {}).get("role", "strong")
        llm = self._llm(role)
        if not isinstance(llm, FunctionCallingLLM):
            llm = self._llm(other(role))
        return _tool_llm(llm).get_tool_calls_from_response(response, error_on_no_tool_call=error_on_no_tool_call,
                                                           **kwargs)

    # --- prompt-template calls: route on the template's query_str -------------------------------
    def predict(self, prompt: Any, **prompt_args: Any) -> str:
        with _query_scope(_template_query(prompt, prompt_args)):
            return super().predict(prompt, **prompt_args)

    async def apredict(self, prompt: Any, **prompt_args: Any) -> str:
        with _query_scope(_template_query(prompt, prompt_args)):
            return await super().apredict(prompt, **prompt_args)

    def stream(self, prompt: Any, **prompt_args: Any) -> Any:
        with _query_scope(_template_query(prompt, prompt_args)):  # stream_chat routes before returning
            return super().stream(prompt, **prompt_args)

    async def astream(self, prompt: Any, **prompt_args: Any) -> Any:
        with _query_scope(_template_query(prompt, prompt_args)):
            return await super().astream(prompt, **prompt_args)

    def structured_predict(self, output_cls: Any, prompt: Any, llm_kwargs: Optional[dict[str, Any]] = None,
                           **prompt_args: Any) -> Any:
        with _query_scope(_template_query(prompt, prompt_args)):
            return super().structured_predict(output_cls, prompt, llm_kwargs=llm_kwargs, **prompt_args)

    async def astructured_predict(self, output_cls: Any, prompt: Any, llm_kwargs: Optional[dict[str, Any]] = None,
                                  **prompt_args: Any) -> Any:
        with _query_scope(_template_query(prompt, prompt_args)):
            return await super().astructured_predict(output_cls, prompt, llm_kwargs=llm_kwargs, **prompt_args)

    def stream_structured_predict(self, output_cls: Any, prompt: Any, llm_kwargs: Optional[dict[str, Any]] = None,
                                  **prompt_args: Any) -> Any:
        query = _template_query(prompt, prompt_args)
        with _query_scope(query):
            items = super().stream_structured_predict(output_cls, prompt, llm_kwargs=llm_kwargs, **prompt_args)
        return _scoped_iter(items, query)

    async def astream_structured_predict(self, output_cls: Any, prompt: Any,
                                         llm_kwargs: Optional[dict[str, Any]] = None, **prompt_args: Any) -> Any:
        query = _template_query(prompt, prompt_args)
        with _query_scope(query):
            items = await super().astream_structured_predict(output_cls, prompt, llm_kwargs=llm_kwargs, **prompt_args)
        return _scoped_aiter(items, query)
