"""Two minimal OpenAI chat-completions upstreams for the load test: raw asyncio HTTP/1.1 on loopback.

    python benchmarks/lean_stub.py DELAY CHUNK_DELAY    # prints "STRONG_URL WEAK_URL"; runs until stdin closes

Why not the project's FastAPI stub (``routellm_core.testing.OpenAIStubServer``): the load generator
and the stubs share the two cores with the server they measure, and that stub costs about 2 ms of
CPU a request, taken from the server under test; this one costs a small fraction of that. Same
answers ("Answer from <model>: <first 80 characters of the last user message>"), JSON or SSE
(``stream``), after DELAY seconds; a streamed answer sends one event per word, CHUNK_DELAY seconds
apart (0: all at once, one write). Keep-alive; no pipelining (no client here pipelines).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid


def _answer(model: str, body: dict) -> str:
    messages = body.get("messages") or [{}]
    last = next((m for m in reversed(messages) if m.get("role") == "user"), messages[-1])
    content = last.get("content")
    text = content if isinstance(content, str) else " ".join(
        part.get("text", "") for part in content or [] if isinstance(part, dict))
    return f"Answer from {model}: {text[:80]}"


class _Upstream(asyncio.Protocol):
    def __init__(self, model: str, delay: float, chunk_delay: float) -> None:
        self.model, self.delay, self.chunk_delay = model, delay, chunk_delay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body, self.buffer = self.buffer[end + 4:end + 4 + length], self.buffer[end + 4 + length:]
            asyncio.get_running_loop().create_task(self._respond(body))

    def _send(self, status: str, headers: str, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(f"HTTP/1.1 {status}\r\n{headers}\r\n".encode() + payload)

    async def _respond(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            self._send("400 Bad Request", "content-type: application/json\r\ncontent-length: 2\r\n", b"{}")
            return
        await asyncio.sleep(self.delay)
        text = _answer(self.model, body)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:16]}", int(time.time())
        words = len(text.split())
        usage = {"prompt_tokens": words, "completion_tokens": words, "total_tokens": 2 * words}
        if not body.get("stream"):
            payload = json.dumps({"id": cid, "object": "chat.completion", "created": created, "model": self.model,
                                  "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                               "finish_reason": "stop"}], "usage": usage}).encode()
            self._send("200 OK", f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n", payload)
            return

        def event(delta: dict, finish: str | None = None) -> bytes:
            data = json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.model,
                               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            piece = f"data: {data}\n\n".encode()
            return f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

        pieces = text.split(" ")
        events = [event({"role": "assistant", "content": ""})]
        events += [event({"content": p if i == 0 else " " + p}) for i, p in enumerate(pieces)]
        tail = [event({}, "stop"), b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"]
        self._send("200 OK", "content-type: text/event-stream\r\ntransfer-encoding: chunked\r\n", b"")
        if not self.chunk_delay:
            self._send_raw(b"".join(events + tail))
            return
        for item in events:
            self._send_raw(item)
            await asyncio.sleep(self.chunk_delay)
        self._send_raw(b"".join(tail))

    def _send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def main(delay: float, chunk_delay: float) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda m=model: _Upstream(m, delay, chunk_delay), "127.0.0.1", 0)
               for model in ("strong-model", "weak-model")]
    urls = [f"http://127.0.0.1:{s.sockets[0].getsockname()[1]}/v1" for s in servers]
    print(*urls, flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]), float(sys.argv[2])))
