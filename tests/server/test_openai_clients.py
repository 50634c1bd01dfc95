"""The real openai client (sync, async, streaming) and LangChain's ChatOpenAI against the routing server."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from server_helpers import PROMPT, scrape

pytestmark = pytest.mark.timeout(120)


def _client(server, key: str = "test") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=30)


def _routellm_headers(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("x-routellm-")}


def test_routes_by_threshold_and_answers_with_upstream_model(server, openai_pair, small_router):
    strong, weak = openai_pair
    client = _client(server)
    expected = float(small_router.predict_proba([PROMPT])[0])
    for threshold, role in (("0.0", "strong"), ("1.0", "weak")):
        raw = client.chat.completions.with_raw_response.create(
            model=f"router-mf-{threshold}", messages=[{"role": "user", "content": PROMPT}])
        completion = raw.parse()
        upstream = strong if role == "strong" else weak
        assert completion.model == upstream.model
        assert completion.choices[0].message.content == f"Answer from {upstream.model}: {PROMPT[:80]}"
        assert completion.usage is not None and completion.usage.total_tokens > 0
        headers = _routellm_headers(raw.headers)
        assert headers["x-routellm-decision"] == role and headers["x-routellm-role"] == role
        assert headers["x-routellm-model"] == upstream.model
        assert headers["x-routellm-fallback"] == "false"
        assert headers["x-routellm-router"] == "mf"
        assert float(headers["x-routellm-probability"]) == pytest.approx(expected, abs=1e-5)
        assert completion.model_extra["routellm"]["role"] == role
        # the upstream got the client's messages under its own model name
        assert upstream.requests[-1]["model"] == upstream.model
        assert upstream.requests[-1]["messages"] == [{"role": "user", "content": PROMPT}]
    assert len(strong.requests) == 1 and len(weak.requests) == 1


def test_threshold_between_two_prompts_splits_them(server, small_router, openai_pair):
    """A threshold between two prompts' P(strong wins) sends exactly the higher one to the strong model."""
    strong, weak = openai_pair
    prompts = [PROMPT, "hi", "Write a haiku about autumn.", "Derive the closed form of the Fibonacci numbers."]
    probs = small_router.predict_proba(prompts)
    hi, lo = int(probs.argmax()), int(probs.argmin())
    assert probs[hi] > probs[lo]
    threshold = (probs[hi] + probs[lo]) / 2
    client = _client(server)
    models = {}
    for i in (hi, lo):
        answer = client.chat.completions.create(model=f"router-mf-{threshold:.8f}",
                                                messages=[{"role": "user", "content": prompts[i]}])
        models[i] = answer.model
    assert models == {hi: strong.model, lo: weak.model}


def test_streaming_passes_chunks_through_token_by_token(server, openai_pair):
    strong, weak = openai_pair
    client = _client(server)
    with client.chat.completions.with_streaming_response.create(
            model="always-weak", messages=[{"role": "user", "content": PROMPT}], stream=True,
            stream_options={"include_usage": True}) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert raw.headers["x-routellm-role"] == "weak"
        chunks = list(raw.parse())
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    expected = f"Answer from {weak.model}: {PROMPT[:80]}"
    assert len(deltas) == len(expected.split(" ")) > 5  # one chunk per word, as the upstream sent them
    assert "".join(deltas) == expected
    assert all(c.model == weak.model for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert weak.requests[-1]["stream"] is True and not strong.requests


def test_tool_calls_pass_through(server):
    client = _client(server)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    answer = client.chat.completions.create(model="always-strong", tools=tools,
                                            messages=[{"role": "user", "content": "Weather in Paris?"}])
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in call.function.arguments
    stream = client.chat.completions.create(model="always-strong", tools=tools, stream=True,
                                            messages=[{"role": "user", "content": "Weather in Paris?"}])
    names = [tc.function.name for c in stream if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert names == ["get_weather"]


async def test_async_client_concurrent_plain_and_streaming(server, openai_pair):
    strong, weak = openai_pair
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=30)

    async def plain(i: int) -> str:
        answer = await client.chat.completions.create(
            model="router-mf-0.0" if i % 2 else "router-mf-1.0", messages=[{"role": "user", "content": f"{PROMPT} #{i}"}])
        return answer.model

    async def streamed(i: int) -> str:
        stream = await client.chat.completions.create(
            model="router-mf-0.0" if i % 2 else "router-mf-1.0", stream=True,
            messages=[{"role": "user", "content": f"Question number {i}: why is the sky blue?"}])
        text, model = "", ""
        async for chunk in stream:
            model = chunk.model
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        assert f"Question number {i}:" in text
        return model

    results = await asyncio.gather(*[plain(i) for i in range(12)], *[streamed(i) for i in range(12)])
    expected = [strong.model if i % 2 else weak.model for i in range(12)] * 2
    assert results == expected
    await client.close()


def test_models_health_route_and_metrics(server, small_router):
    client = _client(server)
    ids = [m.id for m in client.models.list()]
    assert set(ids) == {"always-strong", "always-weak"}
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["routers"] == ["mf"]
    decision = httpx.post(f"{server.base_url}/route", json={"model": "router-mf-0.5", "prompt": PROMPT}).json()
    expected = float(small_router.predict_proba([PROMPT])[0])
    assert decision["probability"] == pytest.approx(expected, abs=1e-5)
    assert decision["role"] == ("strong" if expected >= 0.5 else "weak")
    assert decision["model"] == ("strong-model" if expected >= 0.5 else "weak-model")
    by_messages = httpx.post(f"{server.base_url}/route", json={
        "model": "always-weak", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": PROMPT}]})
    assert by_messages.json()["probability"] == pytest.approx(expected, abs=1e-5)
    for _ in range(3):
        client.chat.completions.create(model="always-strong", messages=[{"role": "user", "content": PROMPT}])
    client.chat.completions.create(model="always-weak", messages=[{"role": "user", "content": PROMPT}])
    metrics = scrape(server)
    assert metrics[("routellm_routed_requests_total", (("role", "strong"), ("router", "mf")))] == 3
    assert metrics[("routellm_routed_requests_total", (("role", "weak"), ("router", "mf")))] == 1
    assert metrics[("routellm_answered_requests_total", (("role", "strong"), ("stream", "false")))] == 3
    assert metrics[("routellm_routing_latency_seconds_count", (("router", "mf"),))] == 6  # 4 chats + 2 /v1/route
    assert metrics[("routellm_http_requests_total", (("endpoint", "/v1/chat/completions"), ("status", "200")))] == 4
    assert metrics[("routellm_in_flight_requests", ())] == 0



def test_bearer_key_auth(make_server):
    server = make_server(api_keys=["sk-right"])
    with pytest.raises(openai.AuthenticationError) as info:
        _client(server, "sk-wrong").chat.completions.create(model="always-weak", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
    missing = httpx.post(f"{server.base_url}/chat/completions", json={"model": "always-weak", "messages": []})
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{server.base_url}/models").status_code == 401
    answer = _client(server, "sk-right").chat.completions.create(
        model="always-weak", messages=[{"role": "user", "content": "hello"}])
    assert answer.model == "weak-model"
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_langchain_chat_openai(server, openai_pair):
    from langchain_openai import ChatOpenAI

    strong, weak = openai_pair
    llm = ChatOpenAI(model="always-strong", base_url=server.base_url, api_key="test", max_retries=0)
    message = llm.invoke("Name three prime numbers.")
    assert message.content.startswith("Answer from strong-model:")
    assert message.response_metadata["model_name"] == strong.model
    chunks = list(ChatOpenAI(model="always-weak", base_url=server.base_url, api_key="test").stream("Count to five."))
    assert len(chunks) > 3
    assert "".join(str(c.content) for c in chunks).startswith("Answer from weak-model:")


async def test_server_keeps_prompt_vectors_off_disk(server):
    """Prompts are embedded in memory only: 40 concurrent new prompts (scored in batches) add no disk-cache files."""
    import uuid

    from routellm_core.datadir import default_cache_dir

    folder = default_cache_dir() / "embeddings"
    before = sorted(folder.rglob("*")) if folder.exists() else []
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=60)
    answers = await asyncio.gather(*[client.chat.completions.create(model="router-mf-0.5", messages=[
        {"role": "user", "content": f"Summarise the plot of an imaginary novel called {uuid.uuid4().hex}."}])
        for _ in range(40)])
    await client.close()
    assert len(answers) == 40
    after = sorted(folder.rglob("*")) if folder.exists() else []
    assert after == before
