"""Upstream faults: down, slow past the timeout, HTTP 500, broken mid-stream.

Every request gets an answer from the other role or a clean OpenAI-style error; none hangs
(pytest-timeout), none is lost, and the server stays healthy afterwards.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from server_helpers import PROMPT, scrape

pytestmark = pytest.mark.timeout(90)

MESSAGES = [{"role": "user", "content": PROMPT}]


def _client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=30)


def _healthy(server) -> bool:
    return httpx.get(f"{server.url}/health", timeout=5).json()["status"] == "ok"


def _stream_text(client, model: str) -> tuple[str, str]:
    text, answered = "", ""
    for chunk in client.chat.completions.create(model=model, messages=MESSAGES, stream=True):
        answered = chunk.model
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    return answered, text


def test_upstream_down_falls_back_to_other_role(make_server, openai_pair):
    strong, weak = openai_pair
    server = make_server()
    strong.stop()
    client = _client(server)
    raw = client.chat.completions.with_raw_response.create(model="always-strong", messages=MESSAGES)
    assert raw.parse().model == weak.model
    assert raw.headers["x-routellm-decision"] == "strong" and raw.headers["x-routellm-role"] == "weak"
    assert raw.headers["x-routellm-fallback"] == "true"
    assert raw.parse().model_extra["routellm"]["fallback"] is True
    assert _stream_text(client, "always-strong") == (weak.model, f"Answer from {weak.model}: {PROMPT[:80]}")
    metrics = scrape(server)
    assert metrics[("routellm_fallbacks_total", (("from_role", "strong"), ("to_role", "weak")))] == 2
    assert metrics[("routellm_upstream_errors_total", (("kind", "connect"), ("role", "strong")))] == 2
    assert _healthy(server)


def test_upstream_down_without_fallback_is_502(make_server, openai_pair):
    strong, weak = openai_pair
    server = make_server(fallback=False)
    strong.stop()
    client = _client(server)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="always-strong", messages=MESSAGES, stream=stream)
        assert info.value.status_code == 502
        assert info.value.body["type"] == "upstream_error" and "cannot connect" in info.value.body["message"]
    assert client.chat.completions.create(model="always-weak", messages=MESSAGES).model == weak.model
    assert _healthy(server)


def test_both_down_is_a_clean_502(make_server, openai_pair):
    server = make_server()
    for stub in openai_pair:
        stub.stop()
    response = httpx.post(f"{server.base_url}/chat/completions", json={"model": "always-weak", "messages": MESSAGES})
    assert response.status_code == 502
    error = response.json()["error"]
    assert "weak" in error["message"] and "strong" in error["message"] and error["code"] == "upstream_error"
    assert _healthy(server)


@pytest.mark.parametrize("stream", [False, True])
def test_slow_upstream_times_out_then_falls_back(make_server, openai_pair, stream):
    strong, weak = openai_pair
    server = make_server(strong={"timeout": 1.0})
    strong.fail_mode, strong.delay = "slow", 30.0
    client = _client(server)
    start = time.monotonic()
    if stream:
        assert _stream_text(client, "always-strong")[0] == weak.model
    else:
        assert client.chat.completions.create(model="always-strong", messages=MESSAGES).model == weak.model
    assert time.monotonic() - start < 10  # the 30 s upstream was abandoned after its 1 s timeout
    assert scrape(server)[("routellm_upstream_errors_total", (("kind", "timeout"), ("role", "strong")))] == 1
    assert _healthy(server)


def test_slow_upstream_without_fallback_is_504(make_server, openai_pair):
    strong, weak = openai_pair
    server = make_server(fallback=False, weak={"timeout": 1.0})
    weak.fail_mode, weak.delay = "slow", 30.0
    start = time.monotonic()
    for stream in (False, True):
        response = httpx.post(f"{server.base_url}/chat/completions", timeout=30,
                              json={"model": "always-weak", "messages": MESSAGES, "stream": stream})
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - start < 15
    assert _healthy(server)


def test_http_500_falls_back(make_server, openai_pair):
    strong, weak = openai_pair
    server = make_server()
    weak.fail_mode = "error"
    client = _client(server)
    assert client.chat.completions.create(model="always-weak", messages=MESSAGES).model == strong.model
    assert _stream_text(client, "always-weak")[0] == strong.model
    weak.fail_mode = None  # the upstream recovers: the next request goes where the router says again
    assert client.chat.completions.create(model="always-weak", messages=MESSAGES).model == weak.model
    assert scrape(server)[("routellm_upstream_errors_total", (("kind", "status"), ("role", "weak")))] == 2


def test_midstream_break_ends_stream_with_clean_error(make_server, openai_pair):
    strong, weak = openai_pair
    server = make_server()
    weak.fail_mode = "midstream"
    client = _client(server)
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model="always-weak", messages=MESSAGES, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert received == ["Answer"]  # what the upstream sent before it broke was passed on
    assert "stream broke" in info.value.message
    # non-streaming requests to the same upstream still work, and the server is up
    assert client.chat.completions.create(model="always-weak", messages=MESSAGES).model == weak.model
    assert scrape(server)[("routellm_upstream_errors_total", (("kind", "stream"), ("role", "weak")))] == 1
    assert scrape(server)[("routellm_in_flight_requests", ())] == 0
    assert _healthy(server)


async def test_concurrent_requests_under_faults_none_lost(make_server, openai_pair):
    """40 concurrent requests (half streaming) while strong returns 500 and weak breaks mid-stream."""
    strong, weak = openai_pair
    server = make_server()
    strong.fail_mode = "error"
    weak.fail_mode = "midstream"
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=30)

    async def one(i: int) -> str:
        model = "always-strong" if i % 2 else "always-weak"
        try:
            if i % 4 < 2:
                answer = await client.chat.completions.create(model=model, messages=MESSAGES)
                return f"answer:{answer.model}"
            async for _ in await client.chat.completions.create(model=model, messages=MESSAGES, stream=True):
                pass
            return "stream-complete"
        except openai.APIError as exc:
            return f"error:{type(exc).__name__}"

    results = await asyncio.wait_for(asyncio.gather(*[one(i) for i in range(40)]), timeout=60)
    await client.close()
    assert len(results) == 40
    # plain requests: weak answers (strong fails -> fallback to weak; weak answers non-streams fine)
    assert all(r == "answer:weak-model" for i, r in enumerate(results) if i % 4 < 2), results
    # streams: weak breaks mid-stream (a clean error), strong fails -> fallback to weak -> same clean error
    assert all(r == "error:APIError" for i, r in enumerate(results) if i % 4 >= 2), results
    assert scrape(server)[("routellm_in_flight_requests", ())] == 0
    assert _healthy(server)


def test_client_leaving_mid_stream_releases_the_upstream(make_server, openai_pair):
    """A client that hangs up after the first chunk leaves nothing in flight, and the server keeps serving."""
    strong, weak = openai_pair
    weak.responder = lambda body: " ".join(f"word{i}" for i in range(20_000))
    server = make_server()
    for _ in range(3):
        with httpx.stream("POST", f"{server.base_url}/chat/completions", timeout=30, json={
                "model": "always-weak", "messages": MESSAGES, "stream": True}) as response:
            first = next(response.iter_lines())
            assert first.startswith("data: ")
        # leaving the block closes the connection with most of the 20,000 chunks unread
    deadline = time.monotonic() + 10
    while scrape(server)[("routellm_in_flight_requests", ())] != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert scrape(server)[("routellm_in_flight_requests", ())] == 0
    weak.responder = lambda body: "short answer"
    assert _client(server).chat.completions.create(model="always-weak", messages=MESSAGES).model == weak.model
