"""``RouteLLM(models={...}, prices={...})``: a LlamaIndex LLM routing among several priced LLMs.

The engine's :class:`routellm_core.multi_model.MultiModelPolicy` picks the candidate; this LLM runs
it (the next-best ones on a provider failure) and labels ``additional_kwargs["routellm"]`` and
``raw["routellm"]`` with who answered and every candidate's predicted score and estimated cost.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from typing import Any, Optional, Union

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
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection

from routellm_core import FallbackExecutor
from routellm_core.errors import InvalidInputError
from routellm_core.multi_model import DEFAULT_OUTPUT_TOKENS, MultiModelDecision, MultiModelPolicy, make_candidates

from ._responses import R, annotate
from .llm import _tool_llm, chat_call, deferred_tool_request
from .routing import RouterSpec, message_turns


class MultiModelRouteLLM(FunctionCallingLLM):
    """Route each call to the cheapest of several priced LLMs that no pricier one is needed over.

    ``threshold`` t: a pricier LLM is needed over a cheaper one when the router's P(it wins) >= t
    (0.5: the predicted best; higher: cheaper); or ``top_fraction`` / ``budget_per_1k`` calibrated
    on ``calibration_prompts``. See docs/multi-model.md.
    """

    models: dict[str, SerializeAsAny[LLM]] = Field(description="Candidate LLMs by name.")
    fallback: bool = Field(default=True, description="If the chosen LLM fails, try the next-best candidates.")
    _policy: MultiModelPolicy = PrivateAttr()

    def __init__(self, models: Mapping[str, LLM], prices: Mapping[str, Any], router: RouterSpec = "mf",
                 threshold: Optional[float] = None, top_fraction: Optional[float] = None,
                 budget_per_1k: Optional[float] = None, calibration_prompts: Optional[Sequence[str]] = None,
                 router_models: Optional[Mapping[str, str]] = None,
                 output_tokens: int | Mapping[str, int] = DEFAULT_OUTPUT_TOKENS, route_on: str = "last_user",
                 fallback: bool = True, on_empty: str = "error", **kwargs: Any) -> None:
        for name, llm in models.items():
            if not isinstance(llm, LLM):
                raise InvalidInputError(f"models[{name!r}] must be a LlamaIndex LLM, got {type(llm).__name__}")
        policy = MultiModelPolicy(router, make_candidates(list(models), prices, router_models, output_tokens),
                                  threshold=threshold, top_fraction=top_fraction, budget_per_1k=budget_per_1k,
                                  calibration_prompts=tuple(calibration_prompts or ()), route_on=route_on,
                                  on_empty=on_empty, fallback=fallback)
        super().__init__(models=dict(models), fallback=fallback, **kwargs)  # type: ignore[call-arg]
        self._policy = policy

    @classmethod
    def class_name(cls) -> str:
        return "MultiModelRouteLLM"

    @property
    def policy(self) -> MultiModelPolicy:
        return self._policy

    @property
    def metadata(self) -> LLMMetadata:
        metas = [llm.metadata for llm in self.models.values()]
        return LLMMetadata(context_window=min(m.context_window for m in metas),
                           num_output=max(m.num_output for m in metas),
                           is_chat_model=all(m.is_chat_model for m in metas),
                           is_function_calling_model=all(m.is_function_calling_model for m in metas),
                           model_name=f"routellm-multi({'|'.join(m.model_name for m in metas)})")

    # --- routing ----------------------------------------------------------------------------------
    def route(self, text: str) -> MultiModelDecision:
        """The decision for a text, without calling any LLM."""
        return self._policy.decide([text])[0]

    def _decide(self, messages: Sequence[ChatMessage]) -> MultiModelDecision:
        return self.route(self._policy.routed_text(message_turns(messages)))

    @property
    def _executor(self) -> FallbackExecutor:
        return FallbackExecutor(describe=lambda name: f"LLM {name!r}")

    def _label(self, decision: MultiModelDecision, outcome: Any) -> dict[str, Any]:
        meta = MultiModelPolicy.metadata(decision, str(outcome.attempt.role), outcome.error)
        meta["model_name"] = self.models[meta["model"]].metadata.model_name
        return meta

    def _run(self, decision: MultiModelDecision, call: Callable[[LLM], R]) -> R:
        result, outcome = self._executor.run(self._policy.attempts(decision), lambda a: call(self.models[str(a.role)]))
        return annotate(result, self._label(decision, outcome))

    async def _arun(self, decision: MultiModelDecision, call: Callable[[LLM], Any]) -> Any:
        result, outcome = await self._executor.arun(self._policy.attempts(decision),
                                                    lambda a: call(self.models[str(a.role)]))
        return annotate(result, self._label(decision, outcome))

    def _stream(self, decision: MultiModelDecision, start: Callable[[LLM], Any]) -> Generator[Any, None, None]:
        payload = None
        for chunk, outcome in self._executor.stream(self._policy.attempts(decision),
                                                    lambda a: start(self.models[str(a.role)])):
            payload = payload or self._label(decision, outcome)
            yield annotate(chunk, payload)

    async def _astream(self, decision: MultiModelDecision, start: Callable[[LLM], Any]) -> AsyncGenerator[Any, None]:
        payload = None
        async for chunk, outcome in self._executor.astream(self._policy.attempts(decision),
                                                           lambda a: start(self.models[str(a.role)])):
            payload = payload or self._label(decision, outcome)
            yield annotate(chunk, payload)

    @staticmethod
    def _user(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    # --- chat and completion ------------------------------------------------------------------------
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._run(self._decide(messages), chat_call("chat", messages, kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        decision = (await self._policy.adecide([self._policy.routed_text(message_turns(messages))]))[0]
        return await self._arun(decision, chat_call("achat", messages, kwargs))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream(self._decide(messages), chat_call("stream_chat", messages, kwargs))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return self._astream(self._decide(messages), chat_call("astream_chat", messages, kwargs))

    # --- tool calling ---------------------------------------------------------------------------
    def _prepare_chat_with_tools(self, tools: Sequence[Any], user_msg: Optional[Union[str, ChatMessage]] = None,
                                 chat_history: Optional[list[ChatMessage]] = None, verbose: bool = False,
                                 allow_parallel_tool_calls: bool = False, tool_required: bool = False,
                                 **kwargs: Any) -> dict[str, Any]:
        """Defer tool formatting to the chosen LLM (candidates may format tools differently); ``chat`` routes."""
        return deferred_tool_request(tools, user_msg, chat_history, verbose=verbose, tool_required=tool_required,
                                     allow_parallel_tool_calls=allow_parallel_tool_calls, **kwargs)

    def get_tool_calls_from_response(self, response: ChatResponse, error_on_no_tool_call: bool = True,
                                     **kwargs: Any) -> list[ToolSelection]:
        """Parse tool calls with the candidate that produced ``response`` (the first tool-calling one if unknown)."""
        name = ((response.additional_kwargs or {}).get("routellm") or {}).get("model")
        llm = self.models.get(str(name))
        if not isinstance(llm, FunctionCallingLLM):
            llm = next((m for m in self.models.values() if isinstance(m, FunctionCallingLLM)), llm)
        if llm is None:
            raise InvalidInputError("no candidate LLM supports tool calling")
        return _tool_llm(llm).get_tool_calls_from_response(response, error_on_no_tool_call=error_on_no_tool_call,
                                                           **kwargs)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._run(self._decide(self._user(prompt)), lambda llm: llm.complete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return await self._arun(self._decide(self._user(prompt)),
                                lambda llm: llm.acomplete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return self._stream(self._decide(self._user(prompt)),
                            lambda llm: llm.stream_complete(prompt, formatted=formatted, **kwargs))

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        return self._astream(self._decide(self._user(prompt)),
                             lambda llm: llm.astream_complete(prompt, formatted=formatted, **kwargs))
