"""ChatRouteLLM: a LangChain chat model that sends each call to a strong or a weak chat model.

Drop-in for ``ChatOpenAI(...)`` in any chain, agent or RAG pipeline. The engine's
``RoutingPolicy`` decides (P(strong model wins) >= threshold -> ``strong``); the chosen model runs
as a child run (tracing shows which model answered), its answer comes back unchanged plus
``response_metadata["routellm"]``, and if it fails with a provider error the other model answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, BaseCallbackManager, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.utils import from_env, secret_from_env
from pydantic import ConfigDict, Field, SecretStr, model_validator

from routellm_core import Attempt, Decision, Executor, InvalidInputError, RoutingPolicy
from routellm_core.policy import flat_metadata

from ._answers import annotate, answer_reader, structured_text
from ._call_config import STREAM_PARENT, CallConfigEntryPoints, child_manager, without_stream_taps
from ._models import build_chat_model
from ._policy import (
    MessagesRouteOn,
    RoutingFields,
    check_targets,
    config_overrides,
    message_turns,
    model_name,
    pop_call_routing,
)
from ._tools import pop_tool_request, tool_binding


@dataclass
class _Call:
    """One call: its policy (overrides applied), routed text, a decision made by ``batch``, and how to call a target."""

    policy: RoutingPolicy
    text: str
    decided: Any
    call: Callable[[str, Decision], Callable[[Attempt], Any]]

    def decide(self) -> Decision:
        return self.policy.revive(self.decided) if self.decided else self.policy.decide([self.text])[0]

    async def adecide(self) -> Decision:
        return self.policy.revive(self.decided) if self.decided else (await self.policy.adecide([self.text]))[0]


class ChatRouteLLM(CallConfigEntryPoints, BaseChatModel, RoutingFields):
    """Route each chat call to ``strong`` or ``weak`` (or to one of several priced ``models``) by a learned router.

    Example:
        ```python
        from langchain_openai import ChatOpenAI
        from langchain_routellm import ChatRouteLLM

        llm = ChatRouteLLM(strong=ChatOpenAI(model="gpt-4o"), weak=ChatOpenAI(model="gpt-4o-mini"),
                           router="mf", threshold=0.6)
        llm.invoke("What is 2 + 2?").response_metadata["routellm"]["role"]  # "strong" or "weak"
        ```

    ``models={name: chat model}`` with ``prices={name: (input, output)}`` routes among many models
    by price (docs/multi-model.md); ``cascade={"escalate_threshold": 0.6}`` turns on answer-aware
    routing (docs/cascade.md); ``policy=`` takes a ready :class:`~routellm_core.RoutingPolicy`.
    Per call: ``config={"configurable": {"routellm_threshold": 0.2, "routellm_router": "sw_ranking"}}``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    strong: BaseChatModel | None = None
    """The strong (expensive) chat model, or an OpenAI model name."""
    weak: BaseChatModel | None = None
    """The weak (cheap) chat model, or an OpenAI model name."""
    models: dict[str, BaseChatModel] | None = None
    """Instead of strong/weak: candidate chat models by name, routed by price (with ``prices``)."""
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
        values = check_targets(values, "ChatRouteLLM")
        if isinstance(values, dict):
            values = dict(values)
            if values.get("models") is not None:
                values["models"] = {k: build_chat_model(v, values, k) for k, v in values["models"].items()}
            else:
                for role in ("strong", "weak"):
                    values[role] = build_chat_model(values[role], values, role)
        return values

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
        return {"model_name": self.model_name, **{k: model_name(m) for k, m in self.targets().items()},
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
        """Bind tools on every model: the chosen one gets ``bind_tools(tools, tool_choice=..., **kwargs)``.

        Routing still reads the conversation's text, so an agent's tool loop is routed call by call.
        """
        return self.bind(**tool_binding(tools, tool_choice, kwargs))

    def with_structured_output(self, schema: Any = None, *, include_raw: bool = False, **kwargs: Any) -> Runnable:
        """Each model's own structured output, routed by this model's policy (a cascade judges the JSON answer)."""
        from .runnables import RouteLLMRunnable

        structured = {k: m.with_structured_output(schema, include_raw=include_raw, **kwargs)
                      for k, m in self.targets().items()}
        return RouteLLMRunnable(models=structured, policy=self.policy, answer_text=structured_text,
                                route_on=MessagesRouteOn(self.route_on) if callable(self.route_on) else self.route_on,
                                name="ChatRouteLLMStructuredOutput")

    # --- routing: messages -> the policy's decision -> the executor ---------------------------------
    def _call(self, messages: list[BaseMessage], stop: list[str] | None, parent: BaseCallbackManager | None,
              kwargs: dict[str, Any]) -> _Call:
        """Split LangChain's call kwargs: this call's policy, routed text, and how to call each target."""
        kwargs = dict(kwargs)
        overrides, decided = pop_call_routing(kwargs)
        tools, tool_kwargs = pop_tool_request(kwargs)
        for name in ("temperature", "max_tokens"):
            if getattr(self, name) is not None:
                kwargs.setdefault(name, getattr(self, name))
        stop = stop or self.stop or None
        policy = self.policy.overrides_from(overrides)
        text = "" if decided else policy.routed_text(message_turns(messages), raw=list(messages))
        targets = self.targets()

        def method(name: str, decision: Decision) -> Callable[[Attempt], Any]:
            """``lambda attempt: <target>.<name>(messages, child config, stop=..., **kwargs)``."""
            def call(attempt: Attempt) -> Any:
                model: Runnable = targets[attempt.key]
                if tools is not None:
                    model = targets[attempt.key].bind_tools(tools, **tool_kwargs)
                meta = decision.metadata(attempt.key, model_name(targets[attempt.key]))
                config: RunnableConfig = {"metadata": flat_metadata(meta), "tags": decision.tags(attempt.key)}
                if parent is not None:
                    config["callbacks"] = parent
                return getattr(model, name)(messages, config, stop=stop, **kwargs)
            return call

        return _Call(policy, text, decided, method)

    def _executor(self) -> Executor:
        return self.policy.executor({k: model_name(m) for k, m in self.targets().items()}, answer_reader(self.cascade))

    def batch_routing(self, inputs: list[Any], configs: list[RunnableConfig], kwargs: dict[str, Any]) -> list[Any]:
        """(policy, text) for each input of a batch (None where it cannot be routed: it reports that itself)."""
        pairs: list[Any] = []
        for value, config in zip(inputs, configs, strict=True):
            try:
                call = self._call(self._convert_input(value).to_messages(), None, None,
                                  {**config_overrides(config), **kwargs})
                pairs.append((call.policy, call.text))
            except InvalidInputError:
                pairs.append(None)
        return pairs

    # --- generation -----------------------------------------------------------------------------
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        call = self._call(messages, stop, child_manager(run_manager), kwargs)
        decision = call.decide()
        message, meta = self._executor().run(decision, call.call("invoke", decision))
        return ChatResult(generations=[ChatGeneration(message=annotate(message, meta))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop=stop, run_manager=run_manager, **kwargs))
        call = self._call(messages, stop, child_manager(run_manager), kwargs)
        decision = await call.adecide()
        message, meta = await self._executor().arun(decision, call.call("ainvoke", decision))
        return ChatResult(generations=[ChatGeneration(message=annotate(message, meta))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        # langchain-core's stream() calls _stream without a run manager: our stream() sets STREAM_PARENT.
        parent = without_stream_taps(child_manager(run_manager) if run_manager else STREAM_PARENT.get())
        call = self._call(messages, stop, parent, kwargs)
        decision = call.decide()
        for i, (chunk, meta) in enumerate(self._executor().stream(decision, call.call("stream", decision))):
            yield ChatGenerationChunk(message=annotate(chunk, meta) if i == 0 else chunk)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        parent = without_stream_taps(child_manager(run_manager) if run_manager else STREAM_PARENT.get())
        call = self._call(messages, stop, parent, kwargs)
        decision = await call.adecide()
        first = True
        async for chunk, meta in self._executor().astream(decision, call.call("astream", decision)):
            yield ChatGenerationChunk(message=annotate(chunk, meta) if first else chunk)
            first = False


# The name the many-model chat model had when it was a separate class.
MultiModelChatRouteLLM = ChatRouteLLM
