"""One rule for which provider failures fall back, in every front-end (issue 22).

The strong model fails (the router sends every prompt to it first); the weak model works. Timeouts,
refused connections, 429 and 5xx fall back to the weak model, as does a 400 saying the prompt exceeds
the context; any other 4xx goes back to the caller. Real SDK clients (openai via LangChain and
LlamaIndex) and the real server against stub OpenAI servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.openai_like")

PROMPT = "Explain how a hash map handles collisions."
CASES = {  # name: (HTTP status or a transport failure, message, falls back?)
    "rate_limit": (429, "Rate limit reached for requests", True),
    "overloaded": (503, "The server is overloaded", True),
    "server_error": (500, "Internal error", True),
    "context_length": (400, "This model's maximum context length is 8192 tokens, your messages resulted in 9000", True),
    "bad_request": (400, "Invalid value for 'temperature': must be <= 2", False),
    "unauthorized": (401, "Incorrect API key provided", False),
    "not_found": (404, "The model 'x' does not exist", False),
    "connection_refused": ("connect", "", True),
    "timeout": ("timeout", "", True),
}
TIMEOUT = 0.5


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stubs():
    from routellm_core.testing import OpenAIStubServer

    with OpenAIStubServer(model="strong-model") as strong, OpenAIStubServer(model="weak-model") as weak:
        yield strong, weak


@pytest.fixture(params=list(CASES))
def case(request, stubs):
    """(strong base URL, stubs, falls back?, status and message the caller sees otherwise) for one failure."""
    strong, weak = stubs
    for stub in stubs:  # one pair of stub servers for the module: reset what a case changed
        stub.requests.clear()
        stub.error_status, stub.delay = None, 0.0
    status, message, falls_back = CASES[request.param]
    base_url = strong.base_url
    if status == "connect":
        base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    elif status == "timeout":
        strong.delay = TIMEOUT * 4
    else:
        strong.error_status, strong.error_message = status, message
    yield base_url, strong, weak, falls_back, status, message


def _chat_route_llm(base_url, strong, weak):
    from langchain_openai import ChatOpenAI

    from langchain_routellm import ChatRouteLLM

    def client(url, model):  # an async HTTP client of its own: langchain-openai shares one per URL across loops
        return ChatOpenAI(model=model, base_url=url, api_key="test", max_retries=0, timeout=TIMEOUT,
                          http_async_client=httpx.AsyncClient(timeout=TIMEOUT))

    return ChatRouteLLM(strong=client(base_url, strong.model), weak=client(weak.base_url, weak.model),
                        router="random", threshold=0.0)


def _route_llm(base_url, strong, weak):
    from llama_index.llms.openai_like import OpenAILike

    from llamaindex_routellm import RouteLLM

    def client(url, model):
        return OpenAILike(model=model, api_base=url, api_key="test", is_chat_model=True, max_retries=0, timeout=TIMEOUT)

    return RouteLLM(strong=client(base_url, strong.model), weak=client(weak.base_url, weak.model), router="random",
                    threshold=0.0)


def _langchain(mode, llm):
    if mode == "sync":
        return llm.invoke(PROMPT).response_metadata["routellm"]
    if mode == "async":
        return asyncio.run(llm.ainvoke(PROMPT)).response_metadata["routellm"]
    return list(llm.stream(PROMPT))[0].response_metadata["routellm"]


def _llamaindex(mode, llm):
    from llama_index.core.base.llms.types import ChatMessage

    messages = [ChatMessage(role="user", content=PROMPT)]
    if mode == "sync":
        return llm.chat(messages).additional_kwargs["routellm"]
    if mode == "async":
        return asyncio.run(llm.achat(messages)).additional_kwargs["routellm"]
    return list(llm.stream_chat(messages))[-1].additional_kwargs["routellm"]


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
@pytest.mark.parametrize("front_end", ["langchain", "llamaindex"])
def test_libraries_fall_back_by_the_shared_rule(case, front_end, mode):
    import openai

    base_url, strong, weak, falls_back, status, _ = case
    build, run = (_chat_route_llm, _langchain) if front_end == "langchain" else (_route_llm, _llamaindex)
    llm = build(base_url, strong, weak)
    if falls_back:
        meta = run(mode, llm)
        assert meta["routed_role"] == "strong" and meta["role"] == "weak" and meta["fallback"] is True
        assert meta["fallback_error"] and len(weak.requests) == 1
    else:
        with pytest.raises(openai.APIStatusError) as info:
            run(mode, llm)
        assert info.value.status_code == status and weak.requests == []


@pytest.mark.parametrize("stream", [False, True])
def test_server_falls_back_by_the_shared_rule(case, stream):
    from routellm_core.server import ServerThread, create_app
    from routellm_core.server.config import build_config

    base_url, strong, weak, falls_back, status, message = case
    config = build_config({"strong": {"base_url": base_url, "model": strong.model, "timeout": TIMEOUT},
                           "weak": {"base_url": weak.base_url, "model": weak.model},
                           "routers": {"random": "random"}, "warmup": False})
    body = {"model": "router-random-0", "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    with ServerThread(create_app(config)) as server:
        response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=30)
    if falls_back:
        assert response.status_code == 200 and response.headers["x-routellm-fallback"] == "true"
        assert response.headers["x-routellm-role"] == "weak" and len(weak.requests) == 1
    else:
        assert response.status_code == status and weak.requests == []
        assert response.json()["error"]["message"] == message  # the upstream's own error, passed back
