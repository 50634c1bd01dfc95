"""The FastAPI app: an OpenAI-compatible front that routes each chat request to the strong or weak upstream.

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE), ``POST /v1/route`` (decision only),
``GET /v1/models``, ``GET /health``, ``GET /metrics``. The ``model`` field picks router and
threshold (``router-mf-0.116``) or names an alias. Every error has OpenAI's JSON shape; bad input
is a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ..policy import RoutingPolicy
from ..routers.base import RoutingDecision
from .config import ServerConfig
from .errors import APIError, bad_request, error_body
from .metrics import Metrics
from .routing import RouterPool, prompt_from_messages
from .upstream import Outcome, UpstreamClientError, UpstreamFailure, Upstreams, UpstreamStream

log = logging.getLogger("routellm_core.server")

ENDPOINTS = {"/v1/chat/completions", "/v1/route", "/v1/models", "/health", "/metrics"}


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

        async def observe(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.http_requests.labels(endpoint, str(status)).inc()


class _RelayResponse(StreamingResponse):
    """SSE passthrough that always closes the upstream stream, even if the client left before the first byte."""

    def __init__(self, stream: UpstreamStream, upstreams: Upstreams, metrics: Metrics, headers: dict[str, str]) -> None:
        self.stream, self.upstreams, self.metrics = stream, upstreams, metrics
        self._closed = False
        super().__init__(self._relay(), media_type="text/event-stream",
                         headers={**headers, "cache-control": "no-cache", "x-accel-buffering": "no"})

    async def _relay(self) -> AsyncIterator[bytes]:
        try:
            async for event in self.stream.events():
                yield event
                # Events that arrived together are buffered: let the loop run between them, so other
                # requests get their turn and a client's hang-up is noticed at once.
                await asyncio.sleep(0)
            self.metrics.answered.labels(self.stream.role, "true").inc()
        except UpstreamFailure as failure:
            self.upstreams.record_stream_failure(failure)
            yield b"data: " + json.dumps(error_body(str(failure), "upstream_error", None,
                                                    "upstream_stream_broken")).encode() + b"\n\n"

    async def _cleanup(self) -> None:
        if not self._closed:
            self._closed = True
            await self.stream.aclose()
            self.metrics.in_flight.dec()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._cleanup()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _header_value(text: str) -> str:
    """Header values must be printable ASCII; an upstream's odd model name must not break the response."""
    return text if text.isascii() and text.isprintable() else text.encode("ascii", "replace").decode().replace("?", "_")


def _decision_headers(decision: RoutingDecision, outcome: Outcome | None, model: str | None) -> dict[str, str]:
    headers = {
        "x-routellm-router": decision.router,
        "x-routellm-threshold": f"{decision.threshold:.6g}",
        "x-routellm-probability": f"{decision.probability:.6f}",
        "x-routellm-decision": decision.role,
    }
    if outcome is not None:
        headers["x-routellm-role"] = outcome.role
        headers["x-routellm-fallback"] = "true" if outcome.fell_back else "false"
    if model:
        headers["x-routellm-model"] = _header_value(model)
    return headers


def create_app(config: ServerConfig) -> FastAPI:
    """Build the app: load (and warm up) the configured routers; upstream connections open lazily."""
    pool = RouterPool(config)
    if config.warmup:
        pool.warm_up()
    metrics = Metrics()
    upstreams = Upstreams(config, metrics)
    multi = _multi_model(config, pool, upstreams)
    keys = [k.get_secret_value().encode() for k in config.api_keys]
    cascade = None
    if config.cascade is not None:  # model names cascade / cascade-<t> (see server/cascade.py)
        from .cascade import CascadeFront

        cascade = CascadeFront(config, pool, upstreams, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await pool.close()
        await upstreams.aclose()

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
    def check_auth(request: Request) -> None:
        if not keys:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip().encode()
        ok = scheme.lower() == "bearer" and any(hmac.compare_digest(given, k) for k in keys)
        if not ok:
            raise APIError(401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                           code="invalid_api_key", headers={"www-authenticate": "Bearer"})

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
        return data

    async def decide(model: str, prompt: str, count: bool) -> tuple[RoutingPolicy, RoutingDecision]:
        if not config.has_pair:
            served = multi.name if multi else "none"
            raise bad_request(f"model {model!r} is not served: this server has no strong/weak upstreams and routes "
                              f"only among its multi_model candidates (model {served!r})", param="model",
                              code="model_not_found")
        policy = pool.policy(model)
        decision, seconds = await pool.decide(policy, prompt)
        metrics.routing_latency.labels(decision.router).observe(seconds)
        if count:  # chat requests per chosen role; /v1/route lookups are not requests to a role
            metrics.routed.labels(decision.router, decision.role).inc()
        return policy, decision

    # --- endpoints ----------------------------------------------------------------------------
    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "routers": list(pool.routers), "fallback": config.fallback,
                "upstreams": {role: config.upstream(role).model for role in ("strong", "weak") if config.has_pair},
                **({"multi_model": {name: c.model for name, c in config.multi_model.models.items()}}
                   if config.multi_model else {})}

    @app.get("/metrics")
    async def metrics_endpoint(request: Request) -> Response:
        if config.metrics_auth:
            check_auth(request)
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        check_auth(request)
        pair_names = pool.model_names() if config.has_pair else []
        names = pair_names + (cascade.model_names() if cascade else []) + ([multi.name] if multi else [])
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "routellm"}
                                           for name in names]}

    @app.post("/v1/route")
    async def route(request: Request) -> JSONResponse:
        check_auth(request)
        data = await read_json(request)
        req = _validated(RouteRequest, data)
        assert isinstance(req, RouteRequest)
        if (req.prompt is None) == (req.messages is None):
            raise bad_request("give exactly one of 'prompt' (a string) or 'messages' (a chat)", param="prompt")
        if req.prompt is not None and not req.prompt.strip():
            raise bad_request("'prompt' is empty", param="prompt")
        prompt = req.prompt if req.prompt is not None else prompt_from_messages(data["messages"])
        if multi is not None and req.model == multi.name:
            chosen = await multi.decide(prompt)
            return JSONResponse(multi.metadata(chosen, None), headers=multi.headers(chosen, None))
        _, decision = await decide(req.model, prompt, count=False)
        body = RoutingPolicy.metadata(decision, model=config.upstream(decision.role).model)
        return JSONResponse(body, headers=_decision_headers(decision, None, body["model"]))

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        check_auth(request)
        data = await read_json(request)
        req = _validated(ChatRequest, data)
        assert isinstance(req, ChatRequest)
        if multi is not None and req.model == multi.name:
            return await multi_chat(data, bool(req.stream))
        if cascade is not None and cascade.handles(req.model):
            return await cascade.respond(req.model, data, req.stream)
        policy, decision = await decide(req.model, prompt_from_messages(data["messages"]), count=True)
        metrics.in_flight.inc()
        handed_over = False
        try:
            if req.stream:
                stream, outcome = await upstreams.open_stream(policy.attempts(decision), data)
                headers = _decision_headers(decision, outcome, config.upstream(outcome.role).model)
                handed_over = True  # the response closes the stream and lowers in_flight
                return _RelayResponse(stream, upstreams, metrics, headers)
            result, outcome = await upstreams.complete(policy.attempts(decision), data)
            metrics.answered.labels(outcome.role, "false").inc()
            error = outcome.failures[0] if outcome.failures else None
            result["routellm"] = RoutingPolicy.metadata(decision, outcome.role, str(result["model"]), error)
            return JSONResponse(result, headers=_decision_headers(decision, outcome, str(result["model"])))
        except UpstreamClientError as exc:
            return JSONResponse(exc.body, exc.status, headers=_decision_headers(decision, None, None))
        finally:
            if not handed_over:
                metrics.in_flight.dec()

    async def multi_chat(data: dict[str, Any], stream: bool) -> Response:
        """A chat request for the multi-model name: the engine picks the candidate, fallback to the next-best."""
        assert multi is not None
        chosen = await multi.decide(prompt_from_messages(data["messages"]))
        attempts = multi.policy.attempts(chosen)
        try:
            if stream:
                relay, outcome = await upstreams.open_stream(attempts, data)
                metrics.in_flight.inc()  # the relay lowers it when the stream ends
                return _RelayResponse(relay, upstreams, metrics, multi.headers(chosen, outcome))
            result, outcome = await upstreams.complete(attempts, data)
            result["routellm"] = multi.metadata(chosen, outcome)
            return JSONResponse(result, headers=multi.headers(chosen, outcome))
        except UpstreamClientError as exc:
            return JSONResponse(exc.body, exc.status, headers=multi.headers(chosen, None))

    return app


def _multi_model(config: ServerConfig, pool: RouterPool, upstreams: Upstreams) -> Any:
    """The multi-model route when the config has ``multi_model`` (docs/multi-model.md), else None."""
    if config.multi_model is None:
        return None
    from .multi_model import MultiModelRoute

    return MultiModelRoute(config, pool, upstreams)
