"""ChatRouteLLM: a LangChain chat model that sends each call to a strong or a weak chat model.

Drop-in for ``ChatOpenAI(...)`` in any chain, agent or RAG pipeline. The engine's
``RoutingPolicy`` decides (P(strong model wins) >= threshold -> ``strong``); the chosen model runs
as a child run (tracing shows which model answered), its answer comes back unchanged plus
``response_metadata["routellm"]``, and if it fails with a provider error the other model answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, BaseCallbackManager, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.utils import from_env, secret_from_env
from pydantic import ConfigDict, Field, SecretStr, model_validator

from routellm_core import FallbackExecutor, InvalidInputError, RoutingPolicy
from routellm_core.policy import ROUTE_MODES

from . import _cascade
from ._call_config import STREAM_PARENT, CallConfigEntryPoints, child_manager, without_stream_taps
from ._call_plan import CallPlan
from ._models import build_chat_model
from ._policy import MessagesRouteOn, RoutingFields, config_overrides, message_turns, model_name, pop_call_routing
from ._tools import pop_tool_request, tool_binding


class ChatRouteLLM(CallConfigEntryPoints, BaseChatModel, _cascade.CascadeFields, RoutingFields):
    """Route each chat call to ``strong`` or ``weak`` by a learned router.

    Example:
        ```python
        from langchain_openai import ChatOpenAI
        from langchain_routellm import ChatRouteLLM

        llm = ChatRouteLLM(strong=ChatOpenAI(model="gpt-4o"), weak=ChatOpenAI(model="gpt-4o-mini"),
                           router="mf", threshold=0.6)
        llm.invoke("What is 2 + 2?").response_metadata["routellm"]["role"]  # "strong" or "weak"
        ```

    Per call: ``config={"configurable": {"routellm_threshold": 0.2, "routellm_router": "sw_ranking"}}``.
    ``cascade={"escalate_threshold": 0.6}`` turns on answer-aware routing (docs/cascade.md): the weak
    model answers first and the engine escalates when its answer looks inadequate.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        """``ChatRouteLLM(models={...}, prices={...})`` builds the multi-model chat model (docs/multi-model.md)."""
        if cls is ChatRouteLLM and "models" in kwargs:
            from .multi_model import multi_model_chat

            return multi_model_chat(kwargs)
        return super().__new__(cls)

    strong: BaseChatModel
    """The strong (expensive) chat model, or an OpenAI model name."""
    weak: BaseChatModel
    """The weak (cheap) chat model, or an OpenAI model name."""
    model_name: str = Field(default="routellm", alias="model")
    """Name this routed model reports to tracing (``ls_model_name``)."""
    temperature: float | None = None
    """If set, passed to the chosen model on every call."""
    max_tokens: int | None = None
    """If set, passed to the chosen model on every call."""
    stop: list[str] | None = None
    """Default stop sequences for the chosen model."""
    timeout: float | None = None
    """Request timeout of models built from names."""
    max_retries: int | None = None
    """Retries of models built from names (fallback to the other model is separate)."""
    api_key: SecretStr | None = Field(default_factory=secret_from_env("OPENAI_API_KEY", default=None))
    """API key of models built from names (default: ``OPENAI_API_KEY``)."""
    base_url: str | None = Field(default_factory=from_env("OPENAI_BASE_URL", default=None))
    """Base URL of models built from names (default: ``OPENAI_BASE_URL``)."""
    streaming: bool = False
    """If True, ``invoke`` streams from the chosen model and returns the merged message."""

    @model_validator(mode="before")
    @classmethod
    def _models_from_names(cls, values: Any) -> Any:
        if isinstance(values, dict):
            values = dict(values)
            for role in ("strong", "weak"):
                if role not in values:
                    raise InvalidInputError(f"ChatRouteLLM needs a {role} model: pass {role}=<chat model or model name>")
                values[role] = build_chat_model(values[role], values, role)
        return values

    @model_validator(mode="after")
    def _check_route_on(self) -> ChatRouteLLM:
        if not callable(self.route_on) and self.route_on not in ROUTE_MODES:
            raise InvalidInputError(f"route_on must be 'last_user', 'conversation' or a callable taking the messages, "
                                    f"got {self.route_on!r}")
        return self

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "OPENAI_API_KEY"}

    @property
    def _llm_type(self) -> str:
        return "routellm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        route_on = self.route_on if isinstance(self.route_on, str) else getattr(self.route_on, "__name__", "callable")
        return {"model_name": self.model_name, "strong": model_name(self.strong), "weak": model_name(self.weak),
                "router": self.router_label(), "threshold": self.threshold, "strong_fraction": self.strong_fraction,
                "route_on": route_on, "fallback": self.fallback}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params: dict[str, Any] = {"ls_provider": "routellm", "ls_model_name": kwargs.get("model") or self.model_name,
                                  "ls_model_type": "chat"}
        for key, value in (("ls_temperature", kwargs.get("temperature", self.temperature)),
                           ("ls_max_tokens", kwargs.get("max_tokens", self.max_tokens)),
                           ("ls_stop", stop or kwargs.get("stop") or self.stop)):
            if value:
                params[key] = value
        return cast(LangSmithParams, params)

    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # Only our own stream()/astream() stream at this level. Implicit streaming (streaming=True,
        # astream_events handlers) happens inside the chosen model, a child run with the same handlers.
        return bool(kwargs.get("stream")) and super()._should_stream(async_api=async_api, run_manager=run_manager,
                                                                      **kwargs)

    # --- tools and structured output -----------------------------------------------------------
    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools on both models: the chosen model gets ``bind_tools(tools, tool_choice=..., **kwargs)``."""
        return self.bind(**tool_binding(tools, tool_choice, kwargs))

    def with_structured_output(self, schema: Any = None, *, include_raw: bool = False, **kwargs: Any) -> Runnable:
        """Each model's own structured output, routed: a RouteLLMRunnable over the two structured models."""
        from .runnables import RouteLLMRunnable

        settings = {k: getattr(self, k) for k in ("router", "threshold", "strong_fraction", "calibration_prompts",
                                                  "fallback", "embeddings", "router_kwargs", "on_empty")}
        if self.cascade is not None and self.cascade is not False:  # same mode: the scorer judges the JSON answer
            settings["cascade"] = (self.cascade if isinstance(self.cascade, _cascade.CascadePolicy)
                                   else {**self.cascade, "answer_text": _cascade.structured_text})
        return RouteLLMRunnable(
            strong=self.strong.with_structured_output(schema, include_raw=include_raw, **kwargs),
            weak=self.weak.with_structured_output(schema, include_raw=include_raw, **kwargs), **settings,
            route_on=MessagesRouteOn(self.route_on) if callable(self.route_on) else self.route_on,
            name="ChatRouteLLMStructuredOutput",
        )

    # --- routing: messages -> the policy's decision ----------------------------------------------
    def _role_model(self, role: str) -> BaseChatModel:
        return self.strong if role == "strong" else self.weak

    def _plan(self, messages: list[BaseMessage], stop: list[str] | None, parent: BaseCallbackManager | None,
              kwargs: dict[str, Any]) -> tuple[CallPlan, RoutingPolicy, str]:
        """Split LangChain's call kwargs; the policy for this call and the text it routes on."""
        kwargs = dict(kwargs)
        overrides, decision = pop_call_routing(kwargs)
        tools, tool_kwargs = pop_tool_request(kwargs)
        for name in ("temperature", "max_tokens"):
            if getattr(self, name) is not None:
                kwargs.setdefault(name, getattr(self, name))
        plan = CallPlan(self, parent, stop or self.stop or None, kwargs, tools, tool_kwargs, decision)
        policy = self.policy.overrides_from(overrides)
        text = "" if decision else policy.routed_text(message_turns(messages), raw=list(messages))
        return plan, policy, text

    def _decided(self, messages: list[BaseMessage], stop: list[str] | None, parent: BaseCallbackManager | None,
                 kwargs: dict[str, Any]) -> CallPlan:
        plan, policy, text = self._plan(messages, stop, parent, kwargs)
        plan.decision = plan.decision or policy.decide([text])[0]
        return plan

    async def _adecided(self, messages: list[BaseMessage], stop: list[str] | None,
                        parent: BaseCallbackManager | None, kwargs: dict[str, Any]) -> CallPlan:
        plan, policy, text = self._plan(messages, stop, parent, kwargs)
        plan.decision = plan.decision or (await policy.adecide([text]))[0]
        return plan

    def batch_routing(self, inputs: list[Any], configs: list[RunnableConfig], kwargs: dict[str, Any]) -> list[Any]:
        """(policy, text) for each input of a batch (None where it cannot be routed: it reports that itself)."""
        if self.cascade is not None:  # a cascade decides per call, after the weak answer
            return [None] * len(inputs)
        pairs: list[Any] = []
        for value, config in zip(inputs, configs, strict=True):
            try:
                _, policy, text = self._plan(self._convert_input(value).to_messages(), None, None,
                                             {**config_overrides(config), **kwargs})
                pairs.append((policy, text))
            except InvalidInputError:
                pairs.append(None)
        return pairs

    @property
    def _executor(self) -> FallbackExecutor:
        return FallbackExecutor(describe=lambda role: f"{role} model ({model_name(self._role_model(role))})")

    # --- generation -----------------------------------------------------------------------------
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        if self.cascade is not None:
            return _cascade.generate(_cascade.chat_call(self, messages, stop, child_manager(run_manager), kwargs))
        plan = self._decided(messages, stop, child_manager(run_manager), kwargs)
        message, outcome = self._executor.run(plan.attempts(), plan.call("invoke", messages))
        return ChatResult(generations=[ChatGeneration(message=plan.annotate(message, outcome))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop=stop, run_manager=run_manager, **kwargs))
        if self.cascade is not None:
            return await _cascade.agenerate(_cascade.chat_call(self, messages, stop, child_manager(run_manager), kwargs))
        plan = await self._adecided(messages, stop, child_manager(run_manager), kwargs)
        message, outcome = await self._executor.arun(plan.attempts(), plan.call("ainvoke", messages))
        return ChatResult(generations=[ChatGeneration(message=plan.annotate(message, outcome))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        parent = without_stream_taps(child_manager(run_manager) if run_manager else STREAM_PARENT.get())
        if self.cascade is not None:
            yield from _cascade.stream(_cascade.chat_call(self, messages, stop, parent, kwargs))
            return
        plan = self._decided(messages, stop, parent, kwargs)
        for i, (chunk, outcome) in enumerate(self._executor.stream(plan.attempts(), plan.call("stream", messages))):
            yield plan.chunk(chunk, outcome, i == 0)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        parent = without_stream_taps(child_manager(run_manager) if run_manager else STREAM_PARENT.get())
        if self.cascade is not None:
            async for item in _cascade.astream(_cascade.chat_call(self, messages, stop, parent, kwargs)):
                yield item
            return
        plan = await self._adecided(messages, stop, parent, kwargs)
        first = True
        async for chunk, outcome in self._executor.astream(plan.attempts(), plan.call("astream", messages)):
            yield plan.chunk(chunk, outcome, first)
            first = False
