"""The entry points that carry a call's LangChain config into ChatRouteLLM's hooks.

langchain-core calls ``_generate``/``_stream`` without the call's ``config``, so per-call routing
keys in ``config["configurable"]`` would never reach the decision, and ``stream()`` calls
``_stream`` without its run manager, so the chosen model could not run as a child run. These
overrides do only that plumbing (and let ``batch`` route all inputs with one router call); every
routing decision is still the policy's, made in the hooks.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    BaseCallbackManager,
    CallbackManager,
)
from langchain_core.runnables import RunnableConfig, ensure_config, get_config_list

from routellm_core import Decision
from routellm_core.policy import decide_many

from ._policy import DECISION_KWARG, config_overrides

# The chosen model's parent callbacks while our stream()/astream() drives ``_stream``.
STREAM_PARENT: contextvars.ContextVar[BaseCallbackManager | None] = contextvars.ContextVar("routellm_stream_parent",
                                                                                          default=None)
_DECISION_KEY = "__routellm_decision"  # configurable key of a decision made by batch() ("__": internal)


def child_manager(run_manager: Any) -> BaseCallbackManager | None:
    """Callbacks for a run nested under an LLM run (LangChain gives LLM run managers no ``get_child``)."""
    if run_manager is None:
        return None
    cls = AsyncCallbackManager if isinstance(run_manager, AsyncCallbackManagerForLLMRun) else CallbackManager
    manager = cls(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def without_stream_taps(manager: BaseCallbackManager | None) -> BaseCallbackManager | None:
    """The child's callbacks minus event/log stream taps (astream_events, astream_log).

    When ChatRouteLLM streams, its own run already emits every token; a tap on the child too would
    show each token twice. Taps are recognised by their public ``tap_output_iter`` method; tracers
    still see the child run.
    """
    if manager is None:
        return None
    keep = [h for h in manager.handlers if not callable(getattr(h, "tap_output_iter", None))]
    if len(keep) == len(manager.handlers):
        return manager
    trimmed = manager.copy()
    trimmed.set_handlers(keep)
    return trimmed


def _stream_parent(config: RunnableConfig, manager_cls: type[CallbackManager] | type[AsyncCallbackManager],
                   verbose: bool) -> tuple[RunnableConfig, BaseCallbackManager]:
    """Pre-assign the stream's run id and build the callbacks its child run will use."""
    run_id = config.get("run_id") or uuid.uuid4()
    manager = manager_cls.configure(config.get("callbacks"), None, verbose, config.get("tags"), None,
                                    config.get("metadata"))
    child = manager_cls(handlers=[], parent_run_id=run_id)
    child.set_handlers(manager.inheritable_handlers)
    child.add_tags(manager.inheritable_tags)
    child.add_metadata(manager.inheritable_metadata)
    return {**config, "callbacks": manager, "run_id": run_id}, child


_DONE = object()


def _under(parent: BaseCallbackManager, inner: Iterator[Any]) -> Any:
    """The inner stream's next chunk, with ``parent`` as the chosen model's parent meanwhile."""
    token = STREAM_PARENT.set(parent)
    try:
        return next(inner, _DONE)
    finally:
        STREAM_PARENT.reset(token)


async def _aunder(parent: BaseCallbackManager, inner: AsyncIterator[Any]) -> Any:
    token = STREAM_PARENT.set(parent)
    try:
        return await anext(inner, _DONE)
    finally:
        STREAM_PARENT.reset(token)


def _call_kwargs(config: RunnableConfig, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Per-call routing keys from ``configurable`` (and a batch's decision); explicit kwargs win."""
    decided = (config.get("configurable") or {}).get(_DECISION_KEY)
    extra = {DECISION_KWARG: decided} if decided is not None else {}
    return {**config_overrides(config), **extra, **kwargs}


def decided_configs(configs: list[RunnableConfig], pairs: list[Any]) -> list[RunnableConfig]:
    """Every input's decision from one router call (per router), stored in its config for its own call.

    ``pairs`` holds (policy, text) per input, or None for one that cannot be routed: it keeps its
    config and reports its own error when it runs.
    """
    ready = [i for i, pair in enumerate(pairs) if pair is not None]
    decisions = decide_many([pairs[i] for i in ready])
    out = list(configs)
    for i, decision in zip(ready, decisions, strict=True):
        if isinstance(decision, Decision):
            out[i] = {**configs[i], "configurable": {**(configs[i].get("configurable") or {}),
                                                     _DECISION_KEY: decision.to_dict()}}
    return out


def decision_from(config: RunnableConfig) -> dict[str, Any] | None:
    """The decision ``batch`` made for this input, if any, as data (``policy.revive`` rebuilds it)."""
    raw = (config.get("configurable") or {}).get(_DECISION_KEY)
    return raw if isinstance(raw, dict) else None


def without_decision(config: RunnableConfig) -> RunnableConfig:
    """``config`` minus a batch's decision, so nested routed models route for themselves."""
    configurable = config.get("configurable") or {}
    if _DECISION_KEY not in configurable:
        return config
    return {**config, "configurable": {k: v for k, v in configurable.items() if k != _DECISION_KEY}}


class CallConfigEntryPoints:
    """Public entry points of a chat model whose hooks route: they forward config, nothing else."""

    verbose: bool

    def invoke(self, input: Any, config: RunnableConfig | None = None, *, stop: list[str] | None = None,
               **kwargs: Any) -> Any:
        config = ensure_config(config)
        return super().invoke(input, config, stop=stop, **_call_kwargs(config, kwargs))  # type: ignore[misc]

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, *, stop: list[str] | None = None,
                      **kwargs: Any) -> Any:
        config = ensure_config(config)
        return await super().ainvoke(input, config, stop=stop, **_call_kwargs(config, kwargs))  # type: ignore[misc]

    def stream(self, input: Any, config: RunnableConfig | None = None, *, stop: list[str] | None = None,
               **kwargs: Any) -> Iterator[Any]:
        config = ensure_config(config)
        kwargs = _call_kwargs(config, kwargs)
        config, parent = _stream_parent(config, CallbackManager, self.verbose)
        inner = super().stream(input, config, stop=stop, **kwargs)  # type: ignore[misc]
        try:
            while (chunk := _under(parent, inner)) is not _DONE:
                yield chunk
        finally:
            inner.close()

    async def astream(self, input: Any, config: RunnableConfig | None = None, *, stop: list[str] | None = None,
                      **kwargs: Any) -> AsyncIterator[Any]:
        config = ensure_config(config)
        kwargs = _call_kwargs(config, kwargs)
        config, parent = _stream_parent(config, AsyncCallbackManager, self.verbose)
        inner = super().astream(input, config, stop=stop, **kwargs)  # type: ignore[misc]
        try:
            while (chunk := await _aunder(parent, inner)) is not _DONE:
                yield chunk
        finally:
            await inner.aclose()

    def batch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
              return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        configs = self._decided_configs(inputs, get_config_list(config, len(inputs)), kwargs) if inputs else []
        return super().batch(inputs, configs, return_exceptions=return_exceptions, **kwargs)  # type: ignore[misc]

    async def abatch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, *,
                     return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        configs = get_config_list(config, len(inputs))
        if inputs:
            configs = await asyncio.to_thread(self._decided_configs, inputs, configs, kwargs)
        return await super().abatch(inputs, configs, return_exceptions=return_exceptions, **kwargs)  # type: ignore[misc]

    def _decided_configs(self, inputs: list[Any], configs: list[RunnableConfig],
                         kwargs: dict[str, Any]) -> list[RunnableConfig]:
        return decided_configs(configs, self.batch_routing(inputs, configs, kwargs))

    def batch_routing(self, inputs: list[Any], configs: list[RunnableConfig], kwargs: dict[str, Any]) -> list[Any]:
        """(policy, routed text) per input, None where it cannot be routed; implemented by the model."""
        raise NotImplementedError
