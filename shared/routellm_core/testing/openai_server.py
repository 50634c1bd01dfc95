"""A small but real OpenAI-compatible HTTP server on 127.0.0.1, for tests, demos and load tests.

It speaks the Chat Completions protocol (JSON and Server-Sent Events, tool calls, structured
output, usage), ``/v1/models`` and ``/v1/embeddings``, answers with a ``responder`` function
(default: a short deterministic answer naming the model), and can inject faults: HTTP 500,
slowness, an error in the middle of a stream.

    with OpenAIStubServer(model="strong-model") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
"""



import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

Responder = Callable[[dict[str, Any]], str]


def _sample_from_schema(schema: dict[str, Any], name: str = "value") -> Any:
    """A value that satisfies a (simple) JSON schema: used for tool arguments and structured output."""
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return _sample_from_schema(next((s for s in schema["anyOf"] if s.get("type") != "null"), schema["anyOf"][0]), name)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _sample_from_schema(v, k) for k, v in props.items()}
    if kind == "array":
        return [_sample_from_schema(schema.get("items", {}), name)]
    if kind == "integer":
        return 3
    if kind == "number":
        return 2.5
    if kind == "boolean":
        return True
    return f"{name}-text"


def tool_steps(*names: str,
               arguments: dict[str, Any] | None = None) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """A ``tool_responder`` for a multi-step tool loop: after k tool results in the current user
    turn, call tool ``names[k]`` (with ``arguments``); after the last one, answer without a tool."""

    def respond(body: dict[str, Any]) -> list[dict[str, Any]]:
        messages = body.get("messages", [])
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        done = sum(1 for m in messages[users[-1] if users else 0:] if m.get("role") == "tool")
        return [{"name": names[done], "arguments": dict(arguments or {})}] if done < len(names) else []

    return respond


def _count_tokens(text: str) -> int:
    return max(1, len(text.split()))


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


class OpenAIStubServer:
    """Serve an OpenAI-compatible API for one model name on a free loopback port (in a thread).

    Attributes you may change while it runs: ``fail_mode`` (None, "error" -> HTTP 500,
    "midstream" -> a stream that breaks after its first chunk, "slow" -> wait ``delay`` seconds
    first), ``error_status`` / ``error_message`` (answer every request with that HTTP error, OpenAI-shaped;
    a 400 whose message names the context length gets OpenAI's ``context_length_exceeded`` code), ``delay``,
    ``chunk_delay`` (seconds between streamed chunks), ``responder``, ``json_responder`` (JSON-mode object), ``arguments_responder``
    (tool-call arguments), ``tool_responder`` (scripts tool calls: see :meth:`_scripted_calls`),
    ``strict_tools`` (reject histories whose tool messages answer no earlier tool call, with a 400
    as OpenAI does). ``requests`` lists the JSON bodies received.
    """

    def __init__(self, model: str = "stub-model", responder: Responder | None = None, api_key: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, chunk_words: int = 1, embedding_dim: int = 64,
                 json_responder: Callable[[dict[str, Any]], Any] | None = None,
                 arguments_responder: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.model = model
        self.responder = responder or (lambda body: f"Answer from {self.model}: {self._last_user_text(body)[:80]}")
        # Optional hooks (default: the built-in behaviour): the object returned in JSON mode
        # (response_format json_object), and tool-call arguments from (request body, function spec).
        self.json_responder = json_responder
        self.arguments_responder = arguments_responder
        # (request body) -> [{"name": ..., "arguments": {...}}, ...]: the tool calls to make (an empty
        # list or None: answer without one). Scripts multi-step tool loops; None keeps the default rule.
        self.tool_responder: Callable[[dict[str, Any]], list[dict[str, Any]] | None] | None = None
        self.strict_tools = False
        self.api_key = api_key
        self.host, self.port = host, port
        self.chunk_words = chunk_words
        self.embedding_dim = embedding_dim
        self.fail_mode: str | None = None
        self.error_status: int | None = None
        self.error_message = "injected error"
        self.delay = 0.0
        self.chunk_delay = 0.0  # seconds between streamed content chunks (a model's generation speed)
        self.requests: list[dict[str, Any]] = []
        self._runner: Any = None

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "OpenAIStubServer":
        from ..server.runner import ServerThread

        self._runner = ServerThread(self.app(), self.host, self.port, name="OpenAI stub server", lifespan="off",
                                    timeout_graceful_shutdown=1).start()
        self.port = self._runner.port
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
            self._runner = None

    def __enter__(self) -> "OpenAIStubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- protocol -------------------------------------------------------------------------------
    @staticmethod
    def _last_user_text(body: dict[str, Any]) -> str:
        for message in reversed(body.get("messages", [])):
            if message.get("role") == "user":
                return _message_text(message)
        return ""

    def _tool_call(self, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Call the first (or the forced) tool when tools are offered and no tool result is present yet."""
        tools = body.get("tools") or []
        choice = body.get("tool_choice", "auto")
        messages = body.get("messages", [])
        if not tools or choice == "none" or (messages and messages[-1].get("role") == "tool"):
            return None
        tool = tools[0]
        if isinstance(choice, dict):
            wanted = choice.get("function", {}).get("name")
            tool = next((t for t in tools if t.get("function", {}).get("name") == wanted), tool)
        fn = tool.get("function", {})
        if self.arguments_responder is not None:
            args = self.arguments_responder(body, fn)
        else:
            args = _sample_from_schema(fn.get("parameters", {"type": "object", "properties": {}}))
        return [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                 "function": {"name": fn.get("name", "tool"), "arguments": json.dumps(args)}}]

    def _scripted_calls(self, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The tool calls ``tool_responder`` asks for, in the wire format (ids are fresh)."""
        assert self.tool_responder is not None
        wanted = self.tool_responder(body) or []
        return [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                 "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))}}
                for call in wanted] or None

    @staticmethod
    def history_error(messages: list[dict[str, Any]]) -> str | None:
        """What OpenAI would reject in a history's tool messages (None if it is well formed)."""
        pending: set[str] = set()
        for i, message in enumerate(messages):
            if message.get("role") == "assistant":
                pending = {c.get("id") for c in message.get("tool_calls") or []}
            elif message.get("role") == "tool":
                if message.get("tool_call_id") not in pending:
                    return (f"messages[{i}]: a 'tool' message must answer a preceding 'tool_calls' id, "
                            f"got {message.get('tool_call_id')!r}")
            else:
                pending = set()
        return None

    def _answer(self, body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
        if self.tool_responder is not None:
            calls = self._scripted_calls(body)
            if calls:
                return None, calls
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return json.dumps(_sample_from_schema(fmt.get("json_schema", {}).get("schema", {}))), None
        if fmt.get("type") == "json_object":
            if self.json_responder is not None:
                return json.dumps(self.json_responder(body)), None
            return json.dumps({"answer": self.responder(body)}), None
        calls = self._tool_call(body) if self.tool_responder is None else None
        if calls:
            return None, calls
        return self.responder(body), None

    def app(self):
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, StreamingResponse

        app = FastAPI()

        def error(status: int, message: str, kind: str = "server_error", code: str | None = None) -> JSONResponse:
            return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status)

        async def guard(request: Request) -> JSONResponse | None:
            if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
                return error(401, "invalid api key", "invalid_request_error")
            if self.fail_mode == "slow" or self.delay:
                await asyncio.sleep(self.delay or 30)
            if self.fail_mode == "error":
                return error(500, f"{self.model} failed (injected)")
            if self.error_status is not None:
                client = 400 <= self.error_status < 500
                code = "context_length_exceeded" if "context length" in self.error_message else None
                return error(self.error_status, self.error_message, "invalid_request_error" if client else "server_error",
                             code)
            return None

        @app.get("/v1/models")
        async def models() -> dict:
            return {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "stub"}]}

        @app.post("/v1/embeddings")
        async def embeddings(request: Request):
            body = await request.json()
            if (failed := await guard(request)) is not None:
                return failed
            inputs = body.get("input", [])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            data = [{"object": "embedding", "index": i, "embedding": self._embed(str(t))} for i, t in enumerate(inputs)]
            tokens = sum(_count_tokens(str(t)) for t in inputs)
            return {"object": "list", "data": data, "model": body.get("model", self.model),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            try:
                body = await request.json()
            except json.JSONDecodeError:
                return error(400, "malformed JSON body", "invalid_request_error")
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return error(400, "'messages' must be a list", "invalid_request_error")
            self.requests.append(body)
            if (failed := await guard(request)) is not None:
                return failed
            if self.strict_tools and (problem := self.history_error(body["messages"])):
                return error(400, problem, "invalid_request_error")
            text, calls = self._answer(body)
            prompt_tokens = sum(_count_tokens(_message_text(m)) for m in body["messages"])
            completion_tokens = _count_tokens(text or json.dumps(calls))
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                     "total_tokens": prompt_tokens + completion_tokens}
            cid, created = f"chatcmpl-{uuid.uuid4().hex[:16]}", int(time.time())
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return StreamingResponse(self._stream(cid, created, text, calls, usage, include_usage),
                                         media_type="text/event-stream")
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = calls
            return {"id": cid, "object": "chat.completion", "created": created, "model": self.model,
                    "choices": [{"index": 0, "message": message, "logprobs": None,
                                 "finish_reason": "tool_calls" if calls else "stop"}],
                    "usage": usage, "system_fingerprint": "stub"}

        return app

    async def _stream(self, cid: str, created: int, text: str | None, calls, usage: dict, include_usage: bool):
        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
            payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.model,
                       "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(payload)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        if calls:
            for i, call in enumerate(calls):
                yield chunk({"tool_calls": [{"index": i, **call}]})
        else:
            words = (text or "").split(" ")
            for start in range(0, len(words), self.chunk_words):
                piece = " ".join(words[start : start + self.chunk_words])
                yield chunk({"content": piece if start == 0 else " " + piece})
                if self.fail_mode == "midstream":
                    raise RuntimeError(f"{self.model} broke mid-stream (injected)")
                await asyncio.sleep(self.chunk_delay)
        yield chunk({}, "tool_calls" if calls else "stop")
        if include_usage:
            payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.model,
                       "choices": [], "usage": usage}
            yield f"data: {json.dumps(payload)}\n\n"
        yield "data: [DONE]\n\n"

    def _embed(self, text: str) -> list[float]:
        """Deterministic bag-of-words hashing vector, unit norm: similar texts get similar vectors."""
        vec = [0.0] * self.embedding_dim
        for word in text.lower().split():
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            vec[h % self.embedding_dim] += 1.0
        norm = sum(v * v for v in vec) ** 0.5 or 1.0
        return [v / norm for v in vec]
