"""ChatRouteLLM: a LangChain chat model that sends each call to a strong or a weak chat model.

Drop-in for ``ChatOpenAI(...)`` in any chain, agent or RAG pipeline: a router scores the prompt
(P(strong model wins)) and the call goes to ``strong`` iff that score >= ``threshold``. The chosen
model runs as a child run (tracing shows which model answered), its answer comes back unchanged
plus ``response_metadata["routellm"]``, and if it fails the other model answers (``fallback``).
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import (AsyncCallbackManager, AsyncCallbackManagerForLLMRun, BaseCallbackManager,
                                      CallbackManager, CallbackManagerForLLMRun)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config, get_config_list
from langchain_core.utils import from_env, secret_from_env
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, SecretStr, model_validator

from routellm_core import InvalidInputError, RoutingDecision

from ._routing import (OVERRIDE_KEYS, ROUTE_MODES, RoutingFields, attempts, both_failed, config_overrides,
                       messages_text, model_name, pop_routing_kwargs, route_texts, routing_metadata, run_metadata,
                       with_decision)

# The chosen model's parent callbacks while our own stream()/astream() drives ``_stream``: LangChain
# does not hand ``_stream`` its run manager there, so stream() pre-assigns the run id and sets this.
_STREAM_PARENT: contextvars.ContextVar[BaseCallbackManager | None] = contextvars.ContextVar("routellm_stream_parent",
                                                                                           default=None)


def _build_chat_model(value: Any, values: dict[str, Any], role: str) -> Any:
    """A model name (str) becomes a ChatOpenAI client built from the shared connection settings."""
    if not isinstance(value, str):
        return value
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:  # pragma: no cover - langchain-openai is in the extra
        raise InvalidInputError(f"{role}={value!r} is a model name, which needs langchain-openai "
                                "(pip install 'routellm-plugin[langchain]'); or pass a chat model object") from None
    kwargs: dict[str, Any] = {"model": value.removeprefix("openai:")}
    for ours, theirs in (("api_key", "api_key"), ("base_url", "base_url"), ("temperature", "temperature"),
                         ("max_tokens", "max_tokens"), ("timeout", "timeout"), ("max_retries", "max_retries")):
        if values.get(ours) is not None:
            kwargs[theirs] = values[ours]
    if "api_key" not in kwargs:
        kwargs["api_key"] = secret_from_env("OPENAI_API_KEY", default=None)()
    if kwargs.get("api_key") is None:
        raise InvalidInputError(f"{role}={value!r} is an OpenAI model name but no API key is set: pass api_key=... "
                                "or set OPENAI_API_KEY (or pass a chat model object)")
    return ChatOpenAI(**kwargs)


@dataclass
class _Call:
    """One call's routing inputs, split out of the LangChain kwargs."""

    overrides: dict[str, Any]
    decision: RoutingDecision | None
    stop: list[str] | None
    kwargs: dict[str, Any]
    tools: list[Any] | None = None
    tool_kwargs: dict[str, Any] = field(default_factory=dict)


class ChatRouteLLM(BaseChatModel, RoutingFields):
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
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

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
                values[role] = _build_chat_model(values[role], values, role)
        return values

    @model_validator(mode="after")
    def _check_routing(self) -> ChatRouteLLM:
        self._check_routing_fields()
        if not callable(self.route_on) and self.route_on not in ROUTE_MODES:
            raise InvalidInputError(f"route_on must be 'last_human', 'conversation' or a callable taking the messages, "
                                    f"got {self.route_on!r}")
        return self

    # --- LangChain plumbing ---------------------------------------------------------------------
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

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"ls_provider": "routellm", "ls_model_name": kwargs.get("model") or self.model_name,
                                  "ls_model_type": "chat"}
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop = stop or kwargs.get("stop") or self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    def _call_kwargs(self, config: RunnableConfig, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Per-call routing overrides from ``config["configurable"]``; explicit kwargs win."""
        return {**config_overrides(config), **kwargs}

    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # Only our own stream()/astream() stream at this level. Implicit streaming (streaming=True,
        # astream_events handlers) happens inside the chosen model, a child run with the same handlers.
        if not kwargs.get("stream"):
            return False
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    # --- public entry points: read per-call config, route batches in one call ------------------
    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, *,
               stop: list[str] | None = None, **kwargs: Any) -> AIMessage:
        config = ensure_config(config)
        return super().invoke(input, config, stop=stop, **self._call_kwargs(config, kwargs))

    async def ainvoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, *,
                      stop: list[str] | None = None, **kwargs: Any) -> AIMessage:
        config = ensure_config(config)
        return await super().ainvoke(input, config, stop=stop, **self._call_kwargs(config, kwargs))

    def stream(self, input: LanguageModelInput, config: RunnableConfig | None = None, *,
               stop: list[str] | None = None, **kwargs: Any) -> Iterator[Any]:
        config = ensure_config(config)
        kwargs = self._call_kwargs(config, kwargs)
        config, parent = _stream_parent(config, CallbackManager, self.verbose)
        inner = super().stream(input, config, stop=stop, **kwargs)
        try:
            while True:
                token = _STREAM_PARENT.set(parent)
                try:
                    chunk = next(inner)
                except StopIteration:
                    return
                finally:
                    _STREAM_PARENT.reset(token)
                yield chunk
        finally:
            inner.close()

    async def astream(self, input: LanguageModelInput, config: RunnableConfig | None = None, *,
                      stop: list[str] | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        config = ensure_config(config)
        kwargs = self._call_kwargs(config, kwargs)
        config, parent = _stream_parent(config, AsyncCallbackManager, self.verbose)
        inner = super().astream(input, config, stop=stop, **kwargs)
        try:
            while True:
                token = _STREAM_PARENT.set(parent)
                try:
                    chunk = await inner.__anext__()
                except StopAsyncIteration:
                    return
                finally:
                    _STREAM_PARENT.reset(token)
                yield chunk
        finally:
            await inner.aclose()

    def stream_events(self, input: Any, config: RunnableConfig | None = None, *, version: str = "v2",
                      stop: list[str] | None = None, **kwargs: Any) -> Any:
        if version == "v3":
            config = ensure_config(config)
            kwargs = self._call_kwargs(config, kwargs)
        return super().stream_events(input, config, version=version, stop=stop, **kwargs)

    def astream_events(self, input: Any, config: RunnableConfig | None = None, *, version: str = "v2",
                       stop: list[str] | None = None, **kwargs: Any) -> Any:
        if version == "v3":
            config = ensure_config(config)
            kwargs = self._call_kwargs(config, kwargs)
        return super().astream_events(input, config, version=version, stop=stop, **kwargs)

    def batch(self, inputs: list[LanguageModelInput], config: RunnableConfig | list[RunnableConfig] | None = None,
              *, return_exceptions: bool = False, **kwargs: Any) -> list[AIMessage]:
        if not inputs:
            return []
        configs = self._decide_batch(inputs, get_config_list(config, len(inputs)), kwargs)
        return super().batch(inputs, configs, return_exceptions=return_exceptions, **kwargs)

    async def abatch(self, inputs: list[LanguageModelInput], config: RunnableConfig | list[RunnableConfig] | None = None,
                     *, return_exceptions: bool = False, **kwargs: Any) -> list[AIMessage]:
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        configs = await asyncio.to_thread(self._decide_batch, inputs, configs, kwargs)
        return await super().abatch(inputs, configs, return_exceptions=return_exceptions, **kwargs)

    def _decide_batch(self, inputs: Sequence[LanguageModelInput], configs: list[RunnableConfig],
                      kwargs: dict[str, Any]) -> list[RunnableConfig]:
        """Route every input of a batch with one router call; each call then reuses its decision.

        An input that cannot be routed keeps its config and reports its own error when it runs.
        """
        explicit = {k: kwargs[k] for k in OVERRIDE_KEYS if kwargs.get(k) is not None}
        base = self.routing_spec()
        ready: list[int] = []
        specs, texts = [], []
        for i, (value, cfg) in enumerate(zip(inputs, configs)):
            try:
                text = messages_text(self._convert_input(value).to_messages(), self.route_on)
                spec = base.with_overrides({**config_overrides(cfg), **explicit})
            except Exception:  # noqa: BLE001 -- reported by that input's own call
                continue
            ready.append(i)
            texts.append(text)
            specs.append(spec)
        if not ready:
            return configs
        try:
            decisions = route_texts(specs, texts)
        except Exception:  # noqa: BLE001 -- each call routes (and reports the error) itself
            return configs
        out = list(configs)
        for i, decision in zip(ready, decisions):
            out[i] = with_decision(configs[i], decision)
        return out

    # --- tools and structured output -----------------------------------------------------------
    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools on both models: the chosen model gets ``bind_tools(tools, tool_choice=..., **kwargs)``."""
        formatted = [tool if isinstance(tool, dict) else convert_to_openai_tool(tool) for tool in tools]
        bound: dict[str, Any] = {"tools": formatted}
        if tool_choice is not None:
            bound["tool_choice"] = tool_choice
        if kwargs:
            bound["routellm_tool_kwargs"] = kwargs
        return self.bind(**bound)

    def with_structured_output(self, schema: Any = None, *, include_raw: bool = False, **kwargs: Any) -> Runnable:
        """Each model's own structured output, routed: a RouteLLMRunnable over the two structured models."""
        from .runnables import RouteLLMRunnable

        route_on = self.route_on
        return RouteLLMRunnable(
            strong=self.strong.with_structured_output(schema, include_raw=include_raw, **kwargs),
            weak=self.weak.with_structured_output(schema, include_raw=include_raw, **kwargs),
            router=self.router, threshold=self.threshold, strong_fraction=self.strong_fraction,
            calibration_prompts=self.calibration_prompts, fallback=self.fallback, embeddings=self.embeddings,
            router_kwargs=self.router_kwargs, route_on=_MessagesRouteOn(route_on) if callable(route_on) else route_on,
            name="ChatRouteLLMStructuredOutput",
        )

    # --- routing --------------------------------------------------------------------------------
    def _role_model(self, role: str) -> BaseChatModel:
        return self.strong if role == "strong" else self.weak

    def _split(self, stop: list[str] | None, kwargs: dict[str, Any]) -> _Call:
        kwargs = dict(kwargs)
        overrides, decision = pop_routing_kwargs(kwargs)
        tools = kwargs.pop("tools", None)
        tool_kwargs = dict(kwargs.pop("routellm_tool_kwargs", None) or {})
        if "tool_choice" in kwargs:
            choice = kwargs.pop("tool_choice")
            if choice is not None:
                tool_kwargs["tool_choice"] = choice
        for name in ("temperature", "max_tokens"):
            if getattr(self, name) is not None:
                kwargs.setdefault(name, getattr(self, name))
        stop = stop if stop else (self.stop or None)
        return _Call(overrides, decision, stop, kwargs, tools, tool_kwargs)

    def _decide(self, messages: list[BaseMessage], call: _Call) -> RoutingDecision:
        if call.decision is not None:
            return call.decision
        text = messages_text(messages, self.route_on)
        return route_texts([self.routing_spec().with_overrides(call.overrides)], [text])[0]

    async def _adecide(self, messages: list[BaseMessage], call: _Call) -> RoutingDecision:
        if call.decision is not None:
            return call.decision
        return await asyncio.to_thread(self._decide, messages, call)

    def _model_for(self, role: str, call: _Call) -> Runnable:
        model = self._role_model(role)
        if call.tools is not None:
            return model.bind_tools(call.tools, **call.tool_kwargs)
        return model

    def _child_config(self, parent: BaseCallbackManager | None, role: str, decision: RoutingDecision,
                      fallback: bool) -> RunnableConfig:
        config: RunnableConfig = {"metadata": run_metadata(decision, role, model_name(self._role_model(role)), fallback),
                                  "tags": [f"routellm:{role}"]}
        if parent is not None:
            config["callbacks"] = parent
        return config

    def _annotate(self, message: BaseMessage, decision: RoutingDecision, role: str, fallback: bool,
                  error: BaseException | None) -> BaseMessage:
        meta = routing_metadata(decision, role, model_name(self._role_model(role)), fallback, error)
        return message.model_copy(update={"response_metadata": {**message.response_metadata, "routellm": meta}})

    # --- generation -----------------------------------------------------------------------------
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        call = self._split(stop, kwargs)
        decision = self._decide(messages, call)
        parent = _child_manager(run_manager)
        first_error: BaseException | None = None
        for role, is_fallback in attempts(decision, self.fallback):
            model = self._model_for(role, call)
            config = self._child_config(parent, role, decision, is_fallback)
            try:
                message = model.invoke(messages, config, stop=call.stop, **call.kwargs)
            except Exception as exc:
                if first_error is None:
                    first_error = exc
                    continue
                raise both_failed(first_error, exc) from None
            message = self._annotate(message, decision, role, is_fallback, first_error)
            return ChatResult(generations=[ChatGeneration(message=message)])
        assert first_error is not None
        raise first_error

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop=stop, run_manager=run_manager, **kwargs))
        call = self._split(stop, kwargs)
        decision = await self._adecide(messages, call)
        parent = _child_manager(run_manager)
        first_error: BaseException | None = None
        for role, is_fallback in attempts(decision, self.fallback):
            model = self._model_for(role, call)
            config = self._child_config(parent, role, decision, is_fallback)
            try:
                message = await model.ainvoke(messages, config, stop=call.stop, **call.kwargs)
            except Exception as exc:
                if first_error is None:
                    first_error = exc
                    continue
                raise both_failed(first_error, exc) from None
            message = self._annotate(message, decision, role, is_fallback, first_error)
            return ChatResult(generations=[ChatGeneration(message=message)])
        assert first_error is not None
        raise first_error

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        call = self._split(stop, kwargs)
        decision = self._decide(messages, call)
        parent = _without_stream_taps(_child_manager(run_manager) if run_manager else _STREAM_PARENT.get())
        first_error: BaseException | None = None
        for role, is_fallback in attempts(decision, self.fallback):
            model = self._model_for(role, call)
            config = self._child_config(parent, role, decision, is_fallback)
            iterator = model.stream(messages, config, stop=call.stop, **call.kwargs)
            try:
                try:
                    first = next(iterator)
                except StopIteration:
                    return
                except Exception as exc:  # nothing streamed yet: the other model may answer
                    if first_error is None:
                        first_error = exc
                        continue
                    raise both_failed(first_error, exc) from None
                yield ChatGenerationChunk(message=self._annotate(first, decision, role, is_fallback, first_error))
                for chunk in iterator:
                    yield ChatGenerationChunk(message=chunk)
                return
            finally:
                iterator.close()
        assert first_error is not None
        raise first_error

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        call = self._split(stop, kwargs)
        decision = await self._adecide(messages, call)
        parent = _without_stream_taps(_child_manager(run_manager) if run_manager else _STREAM_PARENT.get())
        first_error: BaseException | None = None
        for role, is_fallback in attempts(decision, self.fallback):
            model = self._model_for(role, call)
            config = self._child_config(parent, role, decision, is_fallback)
            iterator = model.astream(messages, config, stop=call.stop, **call.kwargs)
            try:
                try:
                    first = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                except Exception as exc:  # nothing streamed yet: the other model may answer
                    if first_error is None:
                        first_error = exc
                        continue
                    raise both_failed(first_error, exc) from None
                yield ChatGenerationChunk(message=self._annotate(first, decision, role, is_fallback, first_error))
                async for chunk in iterator:
                    yield ChatGenerationChunk(message=chunk)
                return
            finally:
                await iterator.aclose()
        assert first_error is not None
        raise first_error


class _MessagesRouteOn:
    """Adapts a ``route_on(messages)`` callable to inputs of any shape (str, messages, PromptValue)."""

    def __init__(self, fn: Callable[[list[BaseMessage]], str]) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "route_on")

    def __call__(self, value: Any) -> str:
        from langchain_core.messages import HumanMessage, convert_to_messages
        from langchain_core.prompt_values import PromptValue

        if isinstance(value, PromptValue):
            messages = value.to_messages()
        elif isinstance(value, str):
            messages = [HumanMessage(value)]
        elif isinstance(value, BaseMessage):
            messages = [value]
        else:
            messages = convert_to_messages(value)
        return self.fn(messages)


def _child_manager(run_manager: Any) -> BaseCallbackManager | None:
    """Callbacks for a run nested under an LLM run (LangChain gives LLM run managers no ``get_child``)."""
    if run_manager is None:
        return None
    cls = AsyncCallbackManager if isinstance(run_manager, AsyncCallbackManagerForLLMRun) else CallbackManager
    manager = cls(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def _without_stream_taps(manager: BaseCallbackManager | None) -> BaseCallbackManager | None:
    """The child's callbacks minus event/log stream taps (astream_events, astream_log).

    When ChatRouteLLM streams, its own run already emits every token; a tap on the child too would
    show each token twice. Tracers still see the child run.
    """
    try:
        from langchain_core.tracers._streaming import _StreamingCallbackHandler
    except ImportError:  # pragma: no cover - older/newer langchain-core: keep every handler
        return manager
    if manager is None:
        return None
    keep = [h for h in manager.handlers if not isinstance(h, _StreamingCallbackHandler)]
    if len(keep) == len(manager.handlers):
        return manager
    trimmed = manager.copy()
    trimmed.set_handlers(keep)
    return trimmed


def _stream_parent(config: RunnableConfig, manager_cls: type[BaseCallbackManager],
                   verbose: bool) -> tuple[RunnableConfig, BaseCallbackManager]:
    """Pre-assign the stream's run id and build the callbacks its child run will use.

    The callbacks are configured once here and handed to LangChain's stream(), so the child shares
    the very handler objects (tracers included) of the run it belongs to.
    """
    run_id = config.get("run_id") or uuid.uuid4()
    manager = manager_cls.configure(config.get("callbacks"), None, verbose, config.get("tags"), None,
                                    config.get("metadata"))
    child = manager_cls(handlers=[], parent_run_id=run_id)
    child.set_handlers(manager.inheritable_handlers)
    child.add_tags(manager.inheritable_tags)
    child.add_metadata(manager.inheritable_metadata)
    return {**config, "callbacks": manager, "run_id": run_id}, child
