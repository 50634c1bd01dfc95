"""Calls to the strong and weak OpenAI-compatible upstreams: timeouts, streaming, fallback.

A failure (connection refused, timeout, 5xx, 401/403/404/429, a broken or empty stream before its
first event) makes the request go to the other role when fallback is on. A 4xx that says the
request itself is bad (400, 413, 422) is passed back to the client unchanged: the other role
would reject it too. Once a stream has sent its first event it is committed to its role; a break
after that ends the stream with an OpenAI-style error event, so clients raise instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from ..fallback import FallbackExecutor
from ..policy import Attempt
from .config import Role, ServerConfig, UpstreamConfig
from .errors import APIError, error_body
from .metrics import Metrics

log = logging.getLogger("routellm_core.server")

CLIENT_ERROR_STATUSES = {400, 409, 413, 415, 422}
# The connection closed before any response byte: typically a keep-alive connection the upstream
# closed as we reused it. Safe to send once more; refused connections and timeouts are not retried.
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class UpstreamFailure(Exception):
    """An upstream could not answer; ``kind`` is timeout, connect, status, protocol or stream."""

    def __init__(self, role: Role, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{role} upstream: {message}")
        self.role, self.kind, self.status = role, kind, status


class UpstreamClientError(Exception):
    """The upstream rejected the request as malformed: its answer goes back to the client as is."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"upstream answered {status}")
        self.status, self.body = status, body


class Upstream:
    """One role's endpoint, with its own connection pool."""

    def __init__(self, role: Role, config: UpstreamConfig) -> None:
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
        if status in CLIENT_ERROR_STATUSES:
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


async def sse_events(response: httpx.Response) -> AsyncIterator[bytes]:
    """Complete Server-Sent Events (``data: ...`` lines + blank line), as they arrive."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if line:
            lines.append(line)
        elif lines:
            yield ("\n".join(lines) + "\n\n").encode()
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n\n").encode()


@dataclass
class UpstreamStream:
    """An upstream stream whose first event has arrived."""

    role: Role
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


@dataclass
class Outcome:
    """Which role answered, after which failures."""

    role: Role
    failures: list[UpstreamFailure] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        return bool(self.failures)


class Upstreams:
    """Both roles, and the fallback policy between them."""

    def __init__(self, config: ServerConfig, metrics: Metrics) -> None:
        self.config, self.metrics = config, metrics
        roles: tuple[Role, ...] = ("strong", "weak") if config.has_pair else ()
        self.by_role: dict[Role, Upstream] = {role: Upstream(role, config.upstream(role)) for role in roles}
        # An upstream failure (not a malformed request, not a bug) moves on to the other role.
        self.executor = FallbackExecutor(handles=(UpstreamFailure,), describe=lambda role: f"{role} upstream")

    def _record(self, failure: UpstreamFailure) -> None:
        self.metrics.upstream_errors.labels(failure.role, failure.kind).inc()
        log.warning("upstream failure: %s", failure)

    def _give_up(self, failures: list[UpstreamFailure]) -> APIError:
        last = failures[-1]
        status = 504 if last.kind == "timeout" else 502
        detail = "; ".join(str(f) for f in failures)
        tried = " and ".join(f.role for f in failures)
        return APIError(status, f"upstream failed ({tried} tried): {detail}",
                        code="upstream_timeout" if status == 504 else "upstream_error")

    async def complete(self, attempts: list[Attempt], body: dict[str, Any]) -> tuple[dict[str, Any], Outcome]:
        return await self._with_fallback(attempts, lambda role: self.by_role[role].complete(body))

    async def open_stream(self, attempts: list[Attempt], body: dict[str, Any]) -> tuple[UpstreamStream, Outcome]:
        return await self._with_fallback(attempts, lambda role: self.by_role[role].open_stream(body))

    async def _with_fallback(self, attempts: list[Attempt], call: Any) -> Any:
        """``call(role)`` for the policy's attempts (routed upstream, then the other) via the fallback executor."""
        failures: list[UpstreamFailure] = []

        async def attempt(a: Attempt) -> Any:
            start = time.perf_counter()
            try:
                result = await call(a.role)
            except UpstreamFailure as failure:
                self._record(failure)
                failures.append(failure)
                raise
            self.metrics.upstream_latency.labels(a.role).observe(time.perf_counter() - start)
            if failures:
                self.metrics.fallbacks.labels(attempts[0].role, a.role).inc()
            return result

        try:
            result, outcome = await self.executor.arun(attempts, attempt)
        except UpstreamFailure:
            raise self._give_up(failures) from None
        return result, Outcome(outcome.attempt.role, failures)

    def record_stream_failure(self, failure: UpstreamFailure) -> None:
        self._record(failure)

    async def aclose(self) -> None:
        for upstream in self.by_role.values():
            await upstream.aclose()
