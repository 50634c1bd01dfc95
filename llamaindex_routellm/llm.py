"""``RouteLLM``: a LlamaIndex LLM that sends each call to a strong or a weak LLM, as a router decides.

Use it wherever LlamaIndex takes an LLM (``Settings.llm``, ``index.as_query_engine(llm=...)``,
chat engines, ``FunctionAgent``). The engine's ``RoutingPolicy`` decides on the call's text; the
chosen LLM answers (streaming and tool calling included) through the engine's fallback executor,
and the decision labels ``response.additional_kwargs["routellm"]`` and ``response.raw["routellm"]``
and goes to LlamaIndex's event handlers as a :class:`~llamaindex_routellm.events.RouteLLMRoutingEvent`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
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

from routellm_core import AnswerReader, Decision, Executor, Router, RoutingPolicy
from routellm_core.errors import InvalidInputError
from routellm_core.multi_model import DEFAULT_OUTPUT_TOKENS, make_candidates
from routellm_core.policy import check_route_on

from ._query import ROUTING_QUERY, QueryRoutedPredict
from ._responses import R, annotate, has_tool_calls, redact, response_text
from .events import emit_routing_event
from .routing import RouterSpec, build_policy, message_turns

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


def _last(chunks: list[Any]) -> Any:
    """A LlamaIndex stream's answer: its last chunk carries the text so far."""
    return chunks[-1]


class RouteLLM(QueryRoutedPredict, FunctionCallingLLM):
    """Route each call between a ``strong`` and a ``weak`` LlamaIndex LLM, or among several priced ``models``.

    The router gives P(strong wins) for the routed text; the strong LLM answers iff it is at least
    ``threshold`` (or the threshold calibrated so that ``strong_fraction`` of
    ``calibration_prompts`` go strong). With ``models={name: llm}`` and ``prices={name: (input,
    output)}`` the cheapest LLM that no pricier one is needed over answers (docs/multi-model.md).
    ``route_on`` picks the text: the last user message (default), the whole conversation, or a
    callable on the message list. With ``route_on_query`` (default) a call made through a prompt
    template that has a ``query_str`` (query engines, response synthesizers) is routed on that raw
    query instead of the filled-in prompt. If the chosen LLM fails with a provider error and
    ``fallback`` is on, the other one answers (``fallback=True`` in the metadata); if all fail, the
    first error is raised. ``cascade`` (a ``CascadePolicy`` or a dict such as
    ``{"escalate_threshold": 0.6}``) turns on answer-aware routing: the weak LLM answers first and
    the engine escalates when the answer looks inadequate (docs/cascade.md). ``policy=`` takes a
    ready :class:`~routellm_core.RoutingPolicy`.

    >>> llm = RouteLLM(strong=OpenAI(model="gpt-4o"), weak=OpenAI(model="gpt-4o-mini"), threshold=0.12)
    >>> index.as_query_engine(llm=llm).query("...").metadata  # doctest: +SKIP
    """

    strong: Optional[SerializeAsAny[LLM]] = Field(default=None, description="LLM for prompts the weak one would lose.")
    weak: Optional[SerializeAsAny[LLM]] = Field(default=None, description="Cheaper LLM for everything else.")
    models: Optional[dict[str, SerializeAsAny[LLM]]] = Field(default=None, description="Priced candidate LLMs by name.")
    router: str = Field(default="mf", description="Router name or checkpoint path (a Router object's name).")
    threshold: Optional[float] = Field(default=None, description="The routing threshold (resolved).")
    strong_fraction: Optional[float] = Field(default=None, description="Target strong share the threshold was calibrated for.")
    route_on: RouteOn = Field(default="last_user", description="'last_user', 'conversation' or f(messages) -> str.")
    route_on_query: bool = Field(default=True, description="Route template calls on their query_str when present.")
    fallback: bool = Field(default=True, description="If the chosen LLM fails, let the other one answer.")
    on_empty: str = Field(default="error", description="Calls with no text to route on: 'error' or the model to use.")

    _policy: RoutingPolicy = PrivateAttr()
    _reader: AnswerReader = PrivateAttr()

    def __init__(self, strong: Optional[LLM] = None, weak: Optional[LLM] = None, router: RouterSpec = "mf",
                 threshold: Optional[float] = None, strong_fraction: Optional[float] = None,
                 calibration_prompts: Optional[Sequence[str]] = None, route_on: RouteOn = "last_user",
                 route_on_query: bool = True, fallback: bool = True, on_empty: str = "error",
                 embed_model: Any = None, cascade: Any = None, models: Optional[Mapping[str, LLM]] = None,
                 prices: Optional[Mapping[str, Any]] = None, router_models: Optional[Mapping[str, str]] = None,
                 output_tokens: Any = None, top_fraction: Optional[float] = None,
                 budget_per_1k: Optional[float] = None, router_kwargs: Optional[Mapping[str, Any]] = None,
                 online_window: Optional[int] = None, reroute_guard: bool = False, online_state: Any = None,
                 policy: Optional[RoutingPolicy] = None, explore: float = 0.0, feedback: Any = None,
                 **kwargs: Any) -> None:
        _targets(strong, weak, models, strong_fraction)
        candidates = None
        if models is not None and policy is None:
            if prices is None:
                raise InvalidInputError("RouteLLM(models=...) needs prices={name: (input, output) USD per million tokens}")
            candidates = make_candidates(list(models), prices, router_models,
                                         DEFAULT_OUTPUT_TOKENS if output_tokens is None else output_tokens)
        policy = build_policy(router, threshold, strong_fraction, calibration_prompts, embed_model, policy,
                              route_on=check_route_on(route_on), on_empty=on_empty, fallback=fallback,
                              candidates=candidates, top_fraction=top_fraction, budget_per_1k=budget_per_1k,
                              cascade=cascade, router_kwargs=router_kwargs, online_window=online_window,
                              reroute_guard=reroute_guard, explore=explore, feedback=feedback,
                              online_state=online_state)
        label = router.name if isinstance(router, Router) else str(router)
        resolved = policy.resolved_threshold()
        super().__init__(strong=strong, weak=weak, models=dict(models) if models is not None else None,
                         router=label, threshold=None if resolved != resolved else resolved,
                         strong_fraction=strong_fraction, route_on=policy.route_on, route_on_query=route_on_query,
                         fallback=policy.fallback, on_empty=policy.on_empty, **kwargs)
        self._policy = policy
        self._reader = AnswerReader(response_text, has_tool_calls, _last)

    @classmethod
    def class_name(cls) -> str:
        return "RouteLLM"

    @field_serializer("route_on")
    def _serialize_route_on(self, value: RouteOn) -> str:
        return value if isinstance(value, str) else getattr(value, "__qualname__", repr(value))

    @field_serializer("strong", "weak")
    def _serialize_llm(self, llm: Optional[LLM]) -> Optional[dict[str, Any]]:
        return None if llm is None else redact(llm.to_dict())

    @field_serializer("models")
    def _serialize_models(self, models: Optional[dict[str, LLM]]) -> Optional[dict[str, Any]]:
        return None if models is None else {k: redact(llm.to_dict()) for k, llm in models.items()}

    @property
    def policy(self) -> RoutingPolicy:
        """The engine's decision layer this LLM routes with."""
        return self._policy

    @property
    def targets(self) -> dict[str, LLM]:
        """The LLMs decisions name: ``{"strong": ..., "weak": ...}`` or ``models``."""
        if self.models is not None:
            return dict(self.models)
        assert self.strong is not None and self.weak is not None
        return {"strong": self.strong, "weak": self.weak}

    def to_payload(self) -> dict[str, Any]:
        """Non-sensitive description for observability: metadata plus the routing setup."""
        return {**super().to_payload(), "router": self._policy.router_label, "threshold": self.threshold,
                **{k: llm.to_payload() for k, llm in self.targets.items()}}

    @property
    def metadata(self) -> LLMMetadata:
        metas = [llm.metadata for llm in self.targets.values()]
        roles = {m.system_role for m in metas}
        return LLMMetadata(
            context_window=min(m.context_window for m in metas),
            num_output=max(m.num_output for m in metas),
            is_chat_model=all(m.is_chat_model for m in metas),
            is_function_calling_model=all(m.is_function_calling_model for m in metas),
            model_name=f"routellm({self._policy.router_label}:{'|'.join(m.model_name for m in metas)})",
            system_role=roles.pop() if len(roles) == 1 else MessageRole.SYSTEM,
        )

    # --- routing: messages -> the policy's decision -> the executor --------------------------------
    def routed_text(self, messages: Sequence[ChatMessage]) -> str:
        """The text the router judges for these messages (see ``route_on`` / ``route_on_query``)."""
        query = ROUTING_QUERY.get() if self.route_on_query and not callable(self.route_on) else None
        return query or self._policy.routed_text(message_turns(messages), raw=list(messages))

    def route(self, text: str) -> Decision:
        """The decision for a text, without calling any LLM."""
        return self._policy.decide([text])[0]

    def record_feedback(self, answer: Any, score: Any, prompt: Optional[str] = None) -> Any:
        """Store a user's score in [0, 1] for a routed answer (the response, its metadata or its ``decision_id``)."""
        return self._policy.record_feedback(answer, score, prompt)

    def _decide(self, messages: Sequence[ChatMessage]) -> Decision:
        return self.route(self.routed_text(messages))

    async def _adecide(self, messages: Sequence[ChatMessage]) -> Decision:
        return (await self._policy.adecide([self.routed_text(messages)]))[0]

    def _executor(self) -> Executor:
        return self._policy.executor({k: llm.metadata.model_name for k, llm in self.targets.items()}, self._reader,
                                     noun="LLM")

    @staticmethod
    def _labelled(result: Any, meta: dict[str, Any], first: bool) -> Any:
        if first:
            emit_routing_event(meta, "llm")
        return annotate(result, meta)

    def _run(self, decision: Decision, call: Callable[[LLM], R]) -> R:
        targets = self.targets
        result, meta = self._executor().run(decision, lambda a: call(targets[a.key]))
        return self._labelled(result, meta, True)

    async def _arun(self, decision: Decision, call: Callable[[LLM], Any]) -> Any:
        targets = self.targets
        result, meta = await self._executor().arun(decision, lambda a: call(targets[a.key]))
        return self._labelled(result, meta, True)

    def _stream(self, decision: Decision, start: Callable[[LLM], Any]) -> Generator[Any, None, None]:
        """Stream from the routed LLM; fall back only if it fails before its first chunk."""
        targets = self.targets
        for i, (chunk, meta) in enumerate(self._executor().stream(decision, lambda a: start(targets[a.key]))):
            yield self._labelled(chunk, meta, i == 0)

    async def _astream(self, decision: Decision, start: Callable[[LLM], Any]) -> AsyncGenerator[Any, None]:
        targets = self.targets
        first = True
        async for chunk, meta in self._executor().astream(decision, lambda a: start(targets[a.key])):
            yield self._labelled(chunk, meta, first)
            first = False

    @staticmethod
    def _user(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    # --- chat and completion (LlamaIndex's callback decorators report each call) -------------------
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._run(self._decide(messages), chat_call("chat", messages, kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._arun(await self._adecide(messages), chat_call("achat", messages, kwargs))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream(self._decide(messages), chat_call("stream_chat", messages, kwargs))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return self._astream(await self._adecide(messages), chat_call("astream_chat", messages, kwargs))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._run(self._decide(self._user(prompt)), lambda llm: llm.complete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return await self._arun(await self._adecide(self._user(prompt)),
                                lambda llm: llm.acomplete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return self._stream(self._decide(self._user(prompt)),
                            lambda llm: llm.stream_complete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
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
        """Parse tool calls with the LLM that produced ``response`` (the first tool-calling one if unknown)."""
        meta = (response.additional_kwargs or {}).get("routellm") or {}
        targets = self.targets
        llm = targets.get(str(meta.get("role") or meta.get("model")))
        if not isinstance(llm, FunctionCallingLLM):
            llm = next((m for m in targets.values() if isinstance(m, FunctionCallingLLM)), llm)
        if llm is None:
            raise InvalidInputError("no routed LLM supports tool calling")
        return _tool_llm(llm).get_tool_calls_from_response(response, error_on_no_tool_call=error_on_no_tool_call,
                                                           **kwargs)


def _targets(strong: Optional[LLM], weak: Optional[LLM], models: Optional[Mapping[str, LLM]],
             strong_fraction: Optional[float]) -> dict[str, LLM]:
    """``strong`` and ``weak``, or ``models``: every one a LlamaIndex LLM (the error names what is wrong)."""
    if models is not None:
        for key, value in (("strong", strong), ("weak", weak), ("strong_fraction", strong_fraction)):
            if value is not None:
                raise InvalidInputError(f"RouteLLM(models=...) routes among the models by price: drop {key}= "
                                        "(use threshold, top_fraction or budget_per_1k)")
        targets = dict(models)
    else:
        targets = {"strong": strong, "weak": weak}  # type: ignore[dict-item]
    for name, llm in targets.items():
        if llm is None:
            raise InvalidInputError(f"RouteLLM needs a {name} LLM: pass {name}=<LlamaIndex LLM> (or models= and prices=)")
        if not isinstance(llm, LLM):
            label = name if models is None else f"models[{name!r}]"
            raise InvalidInputError(f"{label} must be a LlamaIndex LLM, got {type(llm).__name__}")
    return targets


# The name the many-model LLM had when it was a separate class.
MultiModelRouteLLM = RouteLLM
