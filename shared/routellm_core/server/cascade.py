"""The server's cascade mode: model names ``cascade`` and ``cascade-<escalate threshold>``.

The engine's :class:`~routellm_core.cascade_policy.CascadePolicy` decides (prompt stage, answer
stage, fallback); this module only calls the upstreams, reads an OpenAI answer's text and tool
calls (JSON or SSE), and reports the decision in ``routellm`` (JSON) and ``x-routellm-*`` headers.
A streamed request is answered once the weak answer has been read and scored: headers carry the
decision, then the kept weak events or the strong stream follow.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..cascade_policy import CascadePolicy
from ..errors import RouteLLMError
from ..policy import RoutingPolicy
from ..routers.base import Role, check_threshold
from .config import ServerConfig
from .errors import APIError, ConfigError, bad_request, error_body
from .metrics import Metrics
from .routing import RouterPool, prompt_from_messages
from .upstream import UpstreamClientError, UpstreamFailure, Upstreams

CASCADE_MODEL = "cascade"


def _message(answer: dict[str, Any]) -> dict[str, Any]:
    choices = answer.get("choices") or [{}]
    return choices[0].get("message") or {}


def answer_text(answer: dict[str, Any]) -> str:
    content = _message(answer).get("content")
    return content if isinstance(content, str) else ""


def answer_has_tool_calls(answer: dict[str, Any]) -> bool:
    return bool(_message(answer).get("tool_calls"))


def merge_events(events: list[bytes]) -> dict[str, Any]:
    """A streamed answer (SSE events) as a chat completion: its text and whether it called a tool."""
    text, tools = [], False
    for event in events:
        for line in event.decode("utf-8", "replace").splitlines():
            payload = line.removeprefix("data:").strip()
            if not line.startswith("data:") or payload == "[DONE]":
                continue
            try:
                delta = (json.loads(payload).get("choices") or [{}])[0].get("delta") or {}
            except (ValueError, AttributeError, IndexError):
                continue
            text.append(delta.get("content") or "")
            tools = tools or bool(delta.get("tool_calls"))
    message: dict[str, Any] = {"content": "".join(text)}
    if tools:
        message["tool_calls"] = [{}]
    return {"choices": [{"message": message}]}


def cascade_headers(meta: dict[str, Any]) -> dict[str, str]:
    p = meta["answer_p_inadequate"]
    return {"x-routellm-router": str(meta["router"]), "x-routellm-role": meta["role"],
            "x-routellm-first-role": meta["first_role"], "x-routellm-escalated": str(meta["escalated"]).lower(),
            "x-routellm-p-inadequate": "" if p is None else f"{p:.6f}", "x-routellm-calls": ",".join(meta["calls"]),
            "x-routellm-fallback": str(meta["fallback"]).lower(), "x-routellm-model": str(meta["model"] or "")}


class CascadeFront:
    """Serves cascade requests with the configured scorer, thresholds and upstreams."""

    def __init__(self, config: ServerConfig, pool: RouterPool, upstreams: Upstreams, metrics: Metrics) -> None:
        settings = config.cascade
        assert settings is not None
        routing = None
        if settings.router is not None:
            routing = RoutingPolicy(pool.routers[settings.router], threshold=settings.threshold, fallback=config.fallback,
                                    max_batch=config.max_batch, label=settings.router)
        try:
            self.policy = CascadePolicy(scorer=settings.scorer, escalate_threshold=settings.escalate_threshold,
                                        routing=routing, fallback=config.fallback).resolve()
        except RouteLLMError as exc:
            raise ConfigError(f"cascade: {exc}") from None
        self.config, self.upstreams, self.metrics = config, upstreams, metrics
        self.models: dict[Role, str] = {role: config.upstream(role).model for role in ("strong", "weak")}

    def model_names(self) -> list[str]:
        return [CASCADE_MODEL, f"{CASCADE_MODEL}-{self.policy.resolved_threshold():g}"]

    @staticmethod
    def handles(model: Any) -> bool:
        return isinstance(model, str) and (model == CASCADE_MODEL or model.startswith(CASCADE_MODEL + "-"))

    def policy_for(self, model: str) -> CascadePolicy:
        """``cascade`` as configured, or ``cascade-<t>`` with escalate threshold t (the scorer is shared)."""
        if model == CASCADE_MODEL:
            return self.policy
        raw = model[len(CASCADE_MODEL) + 1:]
        try:
            threshold = check_threshold(raw)
        except RouteLLMError:
            raise bad_request(f"escalate threshold {raw!r} in model {model!r} is not a number in [0, 1]",
                              param="model") from None
        p = self.policy
        out = CascadePolicy(p.scorer, p.routing, threshold, None, (), p.fallback)
        out._state["scorer"] = p.resolved_scorer()
        return out

    # --- upstream calls (failures counted, then left to the engine's fallback) ----------------------
    async def _complete(self, role: Role, data: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.upstreams.by_role[role].complete(data)
        except UpstreamFailure as failure:
            self.upstreams.record_stream_failure(failure)
            raise

    async def _events(self, role: Role, data: dict[str, Any]) -> AsyncIterator[bytes]:
        try:
            stream = await self.upstreams.by_role[role].open_stream(data)
        except UpstreamFailure as failure:
            self.upstreams.record_stream_failure(failure)
            raise
        try:
            async for event in stream.events():
                yield event
        finally:
            await stream.aclose()

    def _count(self, meta: dict[str, Any], streamed: bool) -> None:
        self.metrics.routed.labels(meta["router"], meta["routed_role"]).inc()
        self.metrics.answered.labels(meta["role"], str(streamed).lower()).inc()

    # --- the endpoint ------------------------------------------------------------------------------------
    async def respond(self, model: str, data: dict[str, Any], stream: bool) -> Response:
        policy = self.policy_for(model)
        prompt = prompt_from_messages(data["messages"])
        try:
            if stream:
                return await self._respond_stream(policy, prompt, data)
            result = await policy.arun(prompt, lambda role: self._complete(role, data), answer_text,
                                       answer_has_tool_calls, self.models)
        except UpstreamClientError as exc:
            return JSONResponse(exc.body, exc.status)
        except UpstreamFailure as exc:
            status = 504 if exc.kind == "timeout" else 502
            raise APIError(status, f"upstream failed: {exc}", code="upstream_timeout" if status == 504
                           else "upstream_error") from None
        self._count(result.metadata, False)
        body = {**result.answer, "routellm": result.metadata}
        return JSONResponse(body, headers=cascade_headers(result.metadata))

    async def _respond_stream(self, policy: CascadePolicy, prompt: str, data: dict[str, Any]) -> Response:
        items: Any = policy.astream(prompt, lambda role: self._events(role, data), merge_events,
                               answer_text, answer_has_tool_calls, self.models)
        try:
            head, meta = await anext(items)  # the weak answer is read and scored here, before any byte is sent
        except StopAsyncIteration:
            raise APIError(502, "upstream stream ended before its first event", code="upstream_error") from None
        except BaseException:
            await items.aclose()
            raise
        self._count(meta, True)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield head
                async for event, _ in items:
                    yield event
            except UpstreamFailure as failure:
                yield b"data: " + json.dumps(error_body(str(failure), "upstream_error", None,
                                                        "upstream_stream_broken")).encode() + b"\n\n"
            finally:
                await items.aclose()

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={**cascade_headers(meta), "cache-control": "no-cache"})
