"""Calls to the OpenAI-compatible upstreams (strong, weak, or the multi-model candidates): timeouts, streams.

Which failures fall back is the engine's one rule (:func:`routellm_core.fallback.status_falls_back`,
shared with the libraries): a connection failure, a timeout, a broken or empty stream before its
first event, 408, 429, 5xx, and a 400/413 saying the prompt exceeds the model's context raise
:class:`UpstreamFailure` (the executor tries the next target); every other 4xx is the client's
problem and is passed back unchanged (:class:`UpstreamClientError`). Once a stream has sent its
first event it is committed to its target; a break after that ends the stream with an OpenAI-style
error event, so clients raise instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from httpx_sse import EventSource, ServerSentEvent

try:  # httpx-sse's incremental decoders (not exported): one chunk per network read
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder
except ImportError:  # a future httpx-sse that moved them: sse_events falls back to one event per chunk
    SSEDecoder = SSELineDecoder = None  # type: ignore[assignment,misc]

from ..fallback import status_falls_back
from .config import ServerConfig, UpstreamConfig
from .errors import APIError, error_body
from .metrics import Metrics

log = logging.getLogger("routellm_core.server")
# The connection closed before any response byte: typically a keep-alive connection the upstream
# closed as we reused it. Safe to send once more; refused connections and timeouts are not retried.
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class UpstreamFailure(Exception):
    """An upstream could not answer; ``kind`` is timeout, connect, status, protocol or stream."""

    def __init__(self, role: str, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{role} upstream: {message}")
        self.role, self.kind, self.status = role, kind, status


class UpstreamClientError(Exception):
    """The upstream rejected the request as malformed: its answer goes back to the client as is."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"upstream answered {status}")
        self.status, self.body = status, body


class Upstream:
    """One target's endpoint, with its own connection pool."""

    def __init__(self, role: str, config: UpstreamConfig) -> None:
        self.role, self.config = role, config
        headers = {"accept": "application/json", **config.headers}
        if config.api_key is not None:
            headers["authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        self.client = httpx.AsyncClient(
            base_url=config.base_url + "/", headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            limits=httpx.Limits(max_connections=config.max_connections,
                                max_keepalive_connections=min(config.max_connections, 128),
                                keepalive_expiry=config.keepalive_expiry),
        )

    def _payload(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "model": self.config.model}

    def _failure(self, exc: BaseException) -> UpstreamFailure:
        if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
            return UpstreamFailure(self.role, "timeout", f"no answer within {self.config.timeout:g}s")
        if isinstance(exc, httpx.ConnectError):
            return UpstreamFailure(self.role, "connect", f"cannot connect to {self.config.base_url}")
        return UpstreamFailure(self.role, "protocol", f"{type(exc).__name__}: {exc}")

    def _check_status(self, status: int, content: bytes) -> None:
        if 200 <= status < 300:
            return
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        if not status_falls_back(status, content.decode("utf-8", "replace")):
            log.warning("upstream %s answered HTTP %d: passed back to the client (no fallback)", self.role, status)
            if not (isinstance(body, dict) and isinstance(body.get("error"), dict)):
                text = content.decode("utf-8", "replace")[:500]
                body = error_body(f"upstream rejected the request: {text}", "invalid_request_error")
            raise UpstreamClientError(status, body)
        detail = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            detail = f": {body['error'].get('message', '')}"[:300]
        raise UpstreamFailure(self.role, "status", f"HTTP {status}{detail}", status)

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streaming chat completion from this upstream."""
        try:
            async with asyncio.timeout(self.config.timeout):
                try:
                    response = await self.client.post("chat/completions", json=self._payload(body))
                except _DROPPED:  # a pooled keep-alive connection the server had just closed: once more
                    response = await self.client.post("chat/completions", json=self._payload(body))
        except (TimeoutError, httpx.HTTPError) as exc:
            raise self._failure(exc) from None
        self._check_status(response.status_code, response.content)
        try:
            data = response.json()
        except ValueError:
            raise UpstreamFailure(self.role, "protocol", "answer is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamFailure(self.role, "protocol", "answer has no 'choices' list")
        if not data.get("model"):
            data["model"] = self.config.model
        return data

    async def open_stream(self, body: dict[str, Any]) -> UpstreamStream:
        """Start a streaming completion and read its first event (so a dead upstream can still fall back)."""
        request = self.client.build_request("POST", "chat/completions", json=self._payload(body),
                                            headers={"accept": "text/event-stream"})
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(self.config.timeout):
                try:
                    response = await self.client.send(request, stream=True)
                except _DROPPED:  # as in complete(): a stale keep-alive connection, retried once
                    response = await self.client.send(request, stream=True)
                if not 200 <= response.status_code < 300:
                    content = await response.aread()
                    self._check_status(response.status_code, content)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    raise UpstreamFailure(self.role, "protocol", "stream answer is not text/event-stream")
                events = sse_events(response)
                try:
                    first = await anext(events)
                except StopAsyncIteration:
                    raise UpstreamFailure(self.role, "protocol", "stream ended before its first event") from None
        except (TimeoutError, httpx.HTTPError) as exc:
            await _close(response)
            raise self._failure(exc) from None
        except BaseException:
            await _close(response)
            raise
        return UpstreamStream(self.role, response, first, events)

    async def aclose(self) -> None:
        await self.client.aclose()


async def _close(response: httpx.Response | None) -> None:
    if response is not None:
        with anyio.CancelScope(shield=True):
            await response.aclose()


def _encoded(sse: ServerSentEvent) -> bytes:
    head = "" if sse.event == "message" else f"event: {sse.event}\n"
    return (head + "".join(f"data: {line}\n" for line in sse.data.split("\n")) + "\n").encode()


async def sse_events(response: httpx.Response) -> AsyncIterator[bytes]:
    """Complete Server-Sent Events as they arrive (parsed by httpx-sse), re-encoded for the client.

    The events of one network read come out together, as one chunk: every chunk costs a write to the
    client and a turn through the relay's generators, so a burst of 60 token events is one write, not
    60. A stream is never held back: what has arrived is passed on at once. httpx-sse's incremental
    decoders do the parsing (its public ``aiter_sse`` yields one event at a time, the fallback).
    """
    if SSEDecoder is None or SSELineDecoder is None:
        async for sse in EventSource(response).aiter_sse():
            yield _encoded(sse)
        return
    lines, decoder = SSELineDecoder(), SSEDecoder()

    def complete(received: list[str]) -> bytes:
        return b"".join(_encoded(event) for line in received if (event := decoder.decode(line.rstrip("\n"))))

    async for text in response.aiter_text():
        if group := complete(lines.decode(text)):
            yield group
    if tail := complete(lines.flush()):
        yield tail


@dataclass
class UpstreamStream:
    """An upstream stream whose first event has arrived."""

    role: str
    response: httpx.Response
    first: bytes
    rest: AsyncIterator[bytes]

    async def events(self) -> AsyncIterator[bytes]:
        """All events; an upstream break ends them with an error event (UpstreamFailure re-raised after)."""
        yield self.first
        try:
            async for event in self.rest:
                yield event
        except httpx.HTTPError as exc:
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "stream"
            raise UpstreamFailure(self.role, kind, f"stream broke: {type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        await _close(self.response)


class Upstreams:
    """Every target's upstream (strong and weak, and the multi-model candidates), with their metrics."""

    def __init__(self, config: ServerConfig, metrics: Metrics) -> None:
        self.config, self.metrics = config, metrics
        self.by_key: dict[str, Upstream] = {}
        if config.has_pair:
            self.by_key.update({role: Upstream(role, config.upstream(role)) for role in ("strong", "weak")})
        if config.multi_model is not None:
            self.by_key.update({name: Upstream(name, c) for name, c in config.multi_model.models.items()})

    def names(self, keys: list[str]) -> dict[str, str]:
        """The model name each target key sends upstream (what metadata reports as ``model``)."""
        return {k: self.by_key[k].config.model for k in keys if k in self.by_key}

    def record_failure(self, failure: UpstreamFailure) -> None:
        self.metrics.upstream_errors.labels(failure.role, failure.kind).inc()
        log.warning("upstream failure: %s", failure)

    record_stream_failure = record_failure

    async def complete(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """One target's answer (failures counted, then raised for the executor's fallback)."""
        start = time.perf_counter()
        try:
            result = await self.by_key[key].complete(body)
        except UpstreamFailure as failure:
            self.record_failure(failure)
            raise
        self.metrics.upstream_latency.labels(key).observe(time.perf_counter() - start)
        return result

    async def events(self, key: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        """One target's SSE events: the first is read before anything is yielded (a dead upstream can fall back)."""
        start = time.perf_counter()
        try:
            stream = await self.by_key[key].open_stream(body)
        except UpstreamFailure as failure:
            self.record_failure(failure)
            raise
        self.metrics.upstream_latency.labels(key).observe(time.perf_counter() - start)
        try:
            async for event in stream.events():
                yield event
        finally:
            await stream.aclose()

    @staticmethod
    def give_up(failures: list[UpstreamFailure]) -> APIError:
        """Every target failed: a 502 (504 if the last one timed out) naming each failure."""
        last = failures[-1]
        status = 504 if last.kind == "timeout" else 502
        detail = "; ".join(str(f) for f in failures)
        tried = " and ".join(f.role for f in failures)
        return APIError(status, f"upstream failed ({tried} tried): {detail}",
                        code="upstream_timeout" if status == 504 else "upstream_error")

    async def aclose(self) -> None:
        for upstream in self.by_key.values():
            await upstream.aclose()
