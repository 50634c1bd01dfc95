"""RouteLLM end to end over real HTTP: two OpenAI-like clients, two loopback servers, a real router.

Two prompts with different router scores and a threshold between them: each must reach the server
of the role the router picks, through every sync, async and streaming path.
"""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.base.llms.types import ChatMessage
from openai import InternalServerError

EASY = "hi, how are you?"
HARD = "Prove that every continuous function on a closed interval is uniformly continuous, with an epsilon-delta argument."


@pytest.fixture
def split(small_router):
    """(strong prompt, weak prompt, threshold between their scores)."""
    p_easy, p_hard = (float(p) for p in small_router.predict_proba([EASY, HARD]))
    assert p_easy != p_hard
    high, low = (EASY, HARD) if p_easy > p_hard else (HARD, EASY)
    return high, low, (p_easy + p_hard) / 2


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def check(response, role: str, llm_pair, small_router, text: str, threshold: float, fallback: bool = False) -> dict:
    """The decision is in additional_kwargs and raw, matches the router, and the right server answered."""
    strong, weak, *_ = llm_pair
    meta = response.additional_kwargs["routellm"]
    assert meta == response.raw["routellm"]
    assert meta["role"] == role and meta["model"] == f"{role}-model" and meta["fallback"] is fallback
    assert meta["router"] == "mf" and meta["threshold"] == pytest.approx(threshold)
    assert meta["probability"] == pytest.approx(float(small_router.predict_proba([text])[0]), abs=1e-6)
    server = strong if role == "strong" else weak
    assert server.requests and server._last_user_text(server.requests[-1]).startswith(text[:40])
    return meta


def test_chat_routes_each_prompt_to_its_model(make_routed, split, llm_pair, small_router):
    high, low, threshold = split
    llm = make_routed(threshold=threshold)
    r_high = llm.chat(user(high))
    check(r_high, "strong", llm_pair, small_router, high, threshold)
    assert r_high.message.content == f"Answer from strong-model: {high[:80]}"
    assert r_high.raw["usage"]["total_tokens"] > 0  # the underlying raw response is kept
    assert r_high.additional_kwargs["total_tokens"] > 0  # and so are the provider's additional_kwargs
    r_low = llm.chat(user(low))
    check(r_low, "weak", llm_pair, small_router, low, threshold)
    assert len(llm_pair[0].requests) == 1 and len(llm_pair[1].requests) == 1


def test_complete_and_predict(make_routed, split, llm_pair, small_router):
    from llama_index.core.prompts import PromptTemplate

    high, low, threshold = split
    llm = make_routed(threshold=threshold)
    check(llm.complete(low), "weak", llm_pair, small_router, low, threshold)
    out = llm.predict(PromptTemplate("{question}"), question=high)
    assert out.startswith("Answer from strong-model")


def test_stream_chat_and_stream_complete(make_routed, split, llm_pair, small_router):
    high, low, threshold = split
    llm = make_routed(threshold=threshold)
    chunks = list(llm.stream_chat(user(high)))
    assert len(chunks) > 3
    assert "".join(c.delta or "" for c in chunks).startswith("Answer from strong-model")
    check(chunks[-1], "strong", llm_pair, small_router, high, threshold)
    assert llm_pair[0].requests[-1]["stream"] is True
    chunks = list(llm.stream_complete(low))
    assert chunks[-1].text.startswith("Answer from weak-model")
    check(chunks[-1], "weak", llm_pair, small_router, low, threshold)


async def test_async_paths(make_routed, split, llm_pair, small_router):
    high, low, threshold = split
    llm = make_routed(threshold=threshold)
    check(await llm.achat(user(high)), "strong", llm_pair, small_router, high, threshold)
    check(await llm.acomplete(low), "weak", llm_pair, small_router, low, threshold)
    chunks = [c async for c in await llm.astream_chat(user(low))]
    assert chunks[-1].message.content.startswith("Answer from weak-model")
    check(chunks[-1], "weak", llm_pair, small_router, low, threshold)
    chunks = [c async for c in await llm.astream_complete(high)]
    check(chunks[-1], "strong", llm_pair, small_router, high, threshold)


async def test_async_routing_does_not_block_the_event_loop(make_routed, llm_pair):
    """While the router scores a prompt in a worker thread, other tasks keep running."""
    llm = make_routed(threshold=0.5)
    router = llm.policy.resolved_router()
    original = router.predict_proba

    def slow_predict_proba(texts):
        import time

        time.sleep(0.3)
        return original(texts)

    router.predict_proba = slow_predict_proba  # instance attribute: only this test's router object
    try:
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await llm.achat(user("Name three colours."))
        task.cancel()
    finally:
        del router.predict_proba
    assert ticks >= 10


async def test_concurrent_async_calls(make_routed, split, llm_pair):
    high, low, threshold = split
    llm = make_routed(threshold=threshold)
    results = await asyncio.gather(*(llm.achat(user(t)) for t in [high, low] * 4))
    roles = [r.additional_kwargs["routellm"]["role"] for r in results]
    assert roles == ["strong", "weak"] * 4
    assert len(llm_pair[0].requests) == 4 and len(llm_pair[1].requests) == 4


def test_event_reaches_instrumentation_handlers(make_routed, split, routing_events):
    high, low, threshold = split
    llm = make_routed(threshold=threshold)
    response = llm.chat(user(low))
    assert len(routing_events) == 1
    event = routing_events[0]
    assert event.class_name() == "RouteLLMRoutingEvent" and event.source == "llm"
    assert event.role == "weak" and event.model == "weak-model" and event.fallback is False
    assert event.probability == response.additional_kwargs["routellm"]["probability"]
    assert event.span_id and event.span_id.startswith("RouteLLM.chat")  # emitted inside the routed call's span


def test_fallback_when_the_routed_server_fails(make_routed, split, llm_pair, small_router, routing_events):
    strong, weak, *_ = llm_pair
    high, low, threshold = split
    llm = make_routed(threshold=threshold)
    strong.fail_mode = "error"
    response = llm.chat(user(high))
    meta = response.additional_kwargs["routellm"]
    assert meta["role"] == "weak" and meta["routed_role"] == "strong" and meta["fallback"] is True
    assert "InternalServerError" in meta["fallback_error"]
    assert response.message.content.startswith("Answer from weak-model")
    assert len(strong.requests) == 1 and len(weak.requests) == 1  # the strong one was really tried
    assert routing_events[-1].fallback is True and routing_events[-1].routed_role == "strong"
    chunks = list(llm.stream_chat(user(high)))  # a stream that fails before its first chunk falls back too
    assert chunks[-1].additional_kwargs["routellm"]["fallback"] is True


async def test_async_fallback_and_both_failing(make_routed, split, llm_pair):
    strong, weak, *_ = llm_pair
    high, low, threshold = split
    llm = make_routed(threshold=threshold)
    weak.fail_mode = "error"
    response = await llm.achat(user(low))
    assert response.additional_kwargs["routellm"]["role"] == "strong"
    chunks = [c async for c in await llm.astream_chat(user(low))]
    assert chunks[-1].additional_kwargs["routellm"]["fallback"] is True
    strong.fail_mode = "error"
    with pytest.raises(InternalServerError, match="weak-model failed") as info:  # the original error
        await llm.achat(user(low))
    assert any("fallback to the strong LLM" in note for note in info.value.__notes__)


def test_no_fallback_when_disabled(make_routed, split, llm_pair):
    strong, weak, *_ = llm_pair
    high, low, threshold = split
    strong.fail_mode = "error"
    with pytest.raises(InternalServerError, match="strong-model failed"):
        make_routed(threshold=threshold, fallback=False).chat(user(high))
    assert weak.requests == []


def test_token_counts_read_from_routed_raw(make_routed, split):
    """LlamaIndex's token counting reads usage from ``raw``: the routed raw keeps it."""
    from llama_index.core.callbacks.token_counting import get_tokens_from_response

    high, low, threshold = split
    response = make_routed(threshold=threshold).chat(user(low))
    prompt_tokens, completion_tokens = get_tokens_from_response(response)
    assert prompt_tokens == len(low.split()) and completion_tokens > 0


def test_no_fallback_after_a_stream_has_started(make_routed, split, llm_pair):
    """Chunks already yielded cannot be taken back: a break mid-stream is raised, not hidden."""
    strong, weak, *_ = llm_pair
    high, low, threshold = split
    strong.fail_mode = "midstream"
    chunks = []
    with pytest.raises(Exception):  # noqa: B017 - the transport's own error type
        for chunk in make_routed(threshold=threshold).stream_chat(user(high)):
            chunks.append(chunk)
    assert chunks and chunks[0].additional_kwargs["routellm"]["role"] == "strong"
    assert weak.requests == []
