"""The FastAPI app: an OpenAI-compatible front that routes each chat request to the strong or weak upstream.

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE), ``POST /v1/route`` (decision only),
``GET /v1/models``, ``GET /health``, ``GET /metrics``. The ``model`` field selects a policy
(:meth:`RouterPool.policy`: ``router-mf-0.116``, an alias, ``router-multi``, ``cascade-0.6``); every
chat request then runs the engine's three steps (routed text, ``decide``, the executor) whatever the
kind of routing. Every error has OpenAI's JSON shape; bad input is a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ..decision import Decision
from ..errors import RouteLLMError
from ..inputs import has_lone_surrogates
from ..policy import RoutingPolicy
from .answers import READER, STREAM_READER
from .capacity import CapacityCollector
from .caps import SpendCaps
from .config import ServerConfig
from .errors import APIError, bad_request, error_body
from .metrics import Metrics
from .routing import RouterPool, prompt_from_messages
from .upstream import UpstreamClientError, UpstreamFailure, Upstreams

log = logging.getLogger("routellm_core.server")

ENDPOINTS = {"/v1/chat/completions", "/v1/route", "/v1/feedback", "/v1/models", "/health", "/metrics"}


# --- request bodies (validated for type; the original JSON is what goes upstream) ----------------
class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    model: str
    messages: list[_Message] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    decision_id: str = Field(min_length=1)
    score: float | bool
    prompt: str | None = None


class RouteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str
    messages: list[_Message] | None = Field(None, min_length=1)
    prompt: str | None = None


def _validated(cls: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise bad_request(f"invalid request body: {loc or 'body'}: {err['msg']}", param=loc or None) from None


# --- the app ------------------------------------------------------------------------------------
class _CountRequests:
    """Pure ASGI middleware: count requests per endpoint and status (streams untouched)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
        status = 500

        async def observe(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.http_requests.labels(endpoint, str(status)).inc()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _header_value(text: str) -> str:
    """Header values must be printable ASCII; an upstream's odd model name must not break the response."""
    return text if text.isascii() and text.isprintable() else text.encode("ascii", "replace").decode().replace("?", "_")


def _number(value: Any, digits: str) -> str:
    return "" if value is None else format(value, digits)


def decision_headers(meta: dict[str, Any], answered: bool = True, names: dict[str, str] | None = None) -> dict[str, str]:
    """``x-routellm-*`` headers of an answer's metadata (one set for every kind; absent keys are left out).

    ``x-routellm-model`` is the model name sent upstream (``names``: target key -> it).
    """
    routed = meta["routed_role"] or meta["routed_model"]
    target = str(meta["role"] or meta["model"])
    model = (names or {}).get(target) or meta["model"]
    headers = {"x-routellm-router": str(meta["router"]), "x-routellm-threshold": _number(meta["threshold"], ".6g"),
               "x-routellm-probability": _number(meta["probability"], ".6f"), "x-routellm-decision": str(routed),
               "x-routellm-decision-id": meta["decision_id"]}
    if answered:
        headers["x-routellm-role"] = target
        headers["x-routellm-fallback"] = str(bool(meta["fallback"])).lower()
    if model:
        headers["x-routellm-model"] = _header_value(str(model))
    if meta["cascade"]:
        headers.update({"x-routellm-first-role": str(meta["first_role"]),
                        "x-routellm-escalated": str(meta["escalated"]).lower(),
                        "x-routellm-p-inadequate": _number(meta["answer_p_inadequate"], ".6f"),
                        "x-routellm-calls": ",".join(meta["calls"])})
    return {k: v for k, v in headers.items() if v != ""}


def create_app(config: ServerConfig) -> FastAPI:
    """Build the app: load (and warm up) the configured routers; upstream connections open lazily."""
    metrics = Metrics()
    pool = RouterPool(config, metrics)
    if config.warmup:
        pool.warm_up()
    metrics.registry.register(CapacityCollector(pool.queue, pool.caches))  # queue depth, decision-cache hit rate
    upstreams = Upstreams(config, metrics)
    caps = SpendCaps(config.caps, metrics) if config.caps else None  # spend caps per client key (caps.py)
    keys = [k.get_secret_value().encode() for k in config.api_keys]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await pool.close()
        await upstreams.aclose()
        if caps:
            await caps.aclose()

    app = FastAPI(title="RouteLLM routing server", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.config, app.state.routers, app.state.metrics, app.state.upstreams = config, pool, metrics, upstreams
    app.add_middleware(_CountRequests, metrics=metrics)

    # --- errors in OpenAI's shape -------------------------------------------------------------
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (f"unknown endpoint: {request.method} {request.url.path}" if exc.status_code == 404
                   else f"{request.method} is not allowed on {request.url.path}" if exc.status_code == 405
                   else str(exc.detail))
        return JSONResponse(error_body(message, "invalid_request_error"), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(f"invalid request: {exc.errors()[:1]}", "invalid_request_error"), 400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal server error", "server_error"), 500)

    # --- request plumbing ---------------------------------------------------------------------
    def client_key(request: Request) -> None:
        """FastAPI dependency: the bearer key every endpoint but /health needs (when keys are configured)."""
        if not keys:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        ok = scheme.lower() == "bearer" and any(hmac.compare_digest(given, k) for k in keys)
        if not ok:
            raise APIError(401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                           code="invalid_api_key", headers={"www-authenticate": "Bearer"})

    def metrics_key(request: Request) -> None:
        if config.metrics_auth:
            client_key(request)

    authorised = [Depends(client_key)]

    async def read_json(request: Request) -> dict[str, Any]:
        limit = config.max_body_bytes
        too_big = APIError(413, f"request body is larger than {limit} bytes", code="request_too_large")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            raise bad_request("request body is empty: send a JSON object")
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise bad_request("request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise bad_request(f"request body must be a JSON object, got {type(data).__name__}")
        if has_lone_surrogates(raw, data):
            raise bad_request("request body holds a lone surrogate escape (\\ud800-\\udfff without its pair): "
                              "not valid Unicode text")
        return data

    async def decide(model: str, prompt: str, count: bool) -> tuple[RoutingPolicy, Decision]:
        policy = pool.policy(model)
        decision, seconds = await pool.decide(policy, prompt)
        metrics.routing_latency.labels(decision.router).observe(seconds)
        if count:  # chat requests per chosen target; /v1/route lookups are not requests to a model
            metrics.routed.labels(decision.router, decision.role).inc()
            if decision.notes.get("guard_flag"):  # the reroute guard's reason: "<part> raise P by <x>"
                metrics.reroute_flagged.labels(decision.router, decision.notes["guard_flag"].split(" raise")[0]).inc()
        return policy, decision

    # --- endpoints ----------------------------------------------------------------------------
    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "routers": list(pool.routers), "fallback": config.fallback,
                "upstreams": {role: config.upstream(role).model for role in ("strong", "weak") if config.has_pair},
                **({"multi_model": {name: c.model for name, c in config.multi_model.models.items()}}
                   if config.multi_model else {})}

    @app.get("/metrics", dependencies=[Depends(metrics_key)])
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/v1/models", dependencies=authorised)
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "routellm"}
                                           for name in pool.model_names()]}

    @app.post("/v1/route", dependencies=authorised)
    async def route(request: Request) -> JSONResponse:
        data = await read_json(request)
        req = _validated(RouteRequest, data)
        assert isinstance(req, RouteRequest)
        if (req.prompt is None) == (req.messages is None):
            raise bad_request("give exactly one of 'prompt' (a string) or 'messages' (a chat)", param="prompt")
        if req.prompt is not None and not req.prompt.strip():
            raise bad_request("'prompt' is empty", param="prompt")
        prompt = req.prompt if req.prompt is not None else prompt_from_messages(data["messages"])
        policy, decision = await decide(req.model, prompt, count=False)
        names = upstreams.names(policy.targets)
        body = decision.metadata(model=names.get(decision.role))
        return JSONResponse(body, headers=decision_headers(body, answered=False, names=names))

    @app.post("/v1/feedback", dependencies=authorised)
    async def feedback(request: Request) -> JSONResponse:
        """A user's score in [0, 1] for a routed answer, by its ``decision_id`` (stored with prompt and model)."""
        if pool.feedback is None:
            raise APIError(404, "this server keeps no feedback: add a 'feedback: {store: ...}' section to its config",
                           code="feedback_disabled")
        req = _validated(FeedbackRequest, await read_json(request))
        assert isinstance(req, FeedbackRequest)
        try:
            row = await asyncio.to_thread(pool.feedback.record, req.decision_id, req.score, req.prompt)
        except RouteLLMError as exc:
            raise bad_request(str(exc), param="decision_id") from None
        metrics.feedback.labels(str(row.role)).inc()
        return JSONResponse({"decision_id": row.decision_id, "score": row.score, "model": row.model,
                             "role": row.role, "stored": True})

    @app.post("/v1/chat/completions", dependencies=authorised)
    async def chat(request: Request) -> Response:
        data = await read_json(request)
        req = _validated(ChatRequest, data)
        assert isinstance(req, ChatRequest)
        policy, decision = await decide(req.model, prompt_from_messages(data["messages"]), count=True)
        decision, cap = await caps.for_request(request, decision) if caps else (decision, None)
        call = _ChatCall(policy, decision, data, upstreams, metrics)
        metrics.in_flight.inc()
        handed_over = False
        try:
            if req.stream:
                response = await call.stream()
                handed_over = True  # the stream's end lowers in_flight
            else:
                response = await call.complete()
            response.headers.update(cap.headers() if cap else {})
            return response
        except UpstreamClientError as exc:
            return JSONResponse(exc.body, exc.status, headers=decision_headers(decision.metadata(), answered=False))
        finally:
            if not handed_over:
                metrics.in_flight.dec()

    return app


class _ChatCall:
    """One chat request after its decision: the executor calls the upstreams, then the answer is labelled."""

    def __init__(self, policy: RoutingPolicy, decision: Decision, data: dict[str, Any], upstreams: Upstreams,
                 metrics: Metrics) -> None:
        self.policy, self.decision, self.data, self.upstreams, self.metrics = policy, decision, data, upstreams, metrics
        self.names = upstreams.names(policy.targets)
        self.failures: list[UpstreamFailure] = []

    def _count(self, meta: dict[str, Any], streamed: bool) -> None:
        answered = str(meta["role"] or meta["model"])
        self.metrics.answered.labels(answered, str(streamed).lower()).inc()
        if meta["fallback"]:
            self.metrics.fallbacks.labels(self.decision.role, answered).inc()

    def _give_up(self, exc: UpstreamFailure) -> APIError:
        return self.upstreams.give_up(self.failures or [exc])

    async def _complete(self, attempt: Any) -> dict[str, Any]:
        try:
            return await self.upstreams.complete(attempt.key, self.data)
        except UpstreamFailure as failure:
            self.failures.append(failure)
            raise

    def _events(self, attempt: Any) -> AsyncIterator[bytes]:
        return self._counted_events(attempt.key)

    async def _counted_events(self, key: str) -> AsyncIterator[bytes]:
        try:
            async for event in self.upstreams.events(key, self.data):
                yield event
        except UpstreamFailure as failure:
            self.failures.append(failure)
            raise

    async def complete(self) -> Response:
        try:
            result, meta = await self.policy.executor(self.names, READER).arun(self.decision, self._complete)
        except UpstreamFailure as exc:
            raise self._give_up(exc) from None
        self._count(meta, False)
        return JSONResponse({**result, "routellm": meta}, headers=decision_headers(meta, names=self.names))

    async def stream(self) -> Response:
        """Headers carry the decision, so the first event is awaited (a cascade's weak answer is judged) first."""
        items = self.policy.executor(self.names, STREAM_READER).astream(self.decision, self._events)
        try:
            head, meta = await anext(items)
        except StopAsyncIteration:
            raise APIError(502, "upstream stream ended before its first event", code="upstream_error") from None
        except UpstreamFailure as exc:
            await items.aclose()
            raise self._give_up(exc) from None
        except BaseException:
            await items.aclose()
            raise
        self._count(meta, True)
        return _SSEResponse(head, items, self.upstreams, self.metrics, decision_headers(meta, names=self.names))


class _SSEResponse(StreamingResponse):
    """SSE relay that always closes the upstream stream and lowers in_flight, even if the client left early."""

    def __init__(self, head: bytes, items: AsyncGenerator[Any, None], upstreams: Upstreams, metrics: Metrics,
                 headers: dict[str, str]) -> None:
        self.items, self.upstreams, self.metrics = items, upstreams, metrics
        self._closed = False
        super().__init__(self._relay(head), media_type="text/event-stream",
                         headers={**headers, "cache-control": "no-cache", "x-accel-buffering": "no"})

    async def _relay(self, head: bytes) -> AsyncIterator[bytes]:
        try:
            yield head
            async for event, _ in self.items:
                yield event
                # Let the loop run between chunks (a chunk holds the events of one upstream read), so
                # other requests get their turn and a client's hang-up is noticed at once.
                await asyncio.sleep(0)
        except UpstreamFailure as failure:
            self.upstreams.record_failure(failure)
            yield b"data: " + json.dumps(error_body(str(failure), "upstream_error", None,
                                                    "upstream_stream_broken")).encode() + b"\n\n"

    async def _cleanup(self) -> None:
        if not self._closed:
            self._closed = True
            await self.items.aclose()
            self.metrics.in_flight.dec()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._cleanup()
