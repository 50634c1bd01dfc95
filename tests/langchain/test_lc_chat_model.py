"""ChatRouteLLM against two real OpenAI-compatible servers with the small real MF router."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import ConfigurableField
from langchain_core.tracers.context import collect_runs
from lc_helpers import CountingRouter, chat_openai, served_by
from pydantic import BaseModel, ValidationError

from langchain_routellm import ChatRouteLLM, RouteLLMEmbeddings
from routellm_core import InvalidInputError, RouteLLMError, load_router

PROMPT = "Explain how a hash map handles collisions."
PROMPTS = ["What is 2 + 2?", "Write a sonnet about the sea.", "Summarize the plot of Hamlet in two sentences.",
           "How do I reverse a list in Python?", "Prove that there are infinitely many primes.",
           "Translate 'good morning' into French.", "What causes the seasons on Earth?", "Name three primary colors."]


class Weather(BaseModel):
    """Get the weather for a city."""

    city: str


def p_strong(router, text: str) -> float:
    return float(router.predict_proba([text])[0])


# --- routing and metadata ------------------------------------------------------------------------
def test_threshold_per_call_picks_the_model_and_metadata_says_so(make_routed, servers, small_router):
    strong, weak = servers
    model = make_routed(threshold=0.5)
    p = p_strong(small_router, PROMPT)
    assert 0.01 < p < 0.99
    low = model.invoke(PROMPT, config={"configurable": {"routellm_threshold": 0.01}})
    high = model.invoke(PROMPT, config={"configurable": {"routellm_threshold": 0.99}})
    assert low.content.startswith("Answer from strong-model") and high.content.startswith("Answer from weak-model")
    assert served_by(strong) == [PROMPT] and served_by(weak) == [PROMPT]
    meta = low.response_metadata["routellm"]
    assert meta["role"] == "strong" and meta["model"] == "strong-model" and meta["router"] == "mf"
    assert meta["threshold"] == 0.01 and meta["fallback"] is False
    assert meta["probability"] == pytest.approx(p, abs=1e-6)
    assert high.response_metadata["routellm"]["role"] == "weak"
    assert high.response_metadata["routellm"]["model"] == "weak-model"
    # the chosen model's own metadata and usage come through unchanged
    assert low.response_metadata["model_name"] == "strong-model"
    words = len(PROMPT.split())
    assert low.usage_metadata["input_tokens"] == words
    assert low.usage_metadata["total_tokens"] == words + len(low.content.split())


def test_instance_threshold_and_explicit_kwargs(make_routed, small_router):
    p = p_strong(small_router, PROMPT)
    assert make_routed(threshold=max(0.0, p - 0.01)).invoke(PROMPT).response_metadata["routellm"]["role"] == "strong"
    model = make_routed(threshold=min(1.0, p + 0.01))
    assert model.invoke(PROMPT).response_metadata["routellm"]["role"] == "weak"
    assert model.invoke(PROMPT, routellm_threshold=0.0).response_metadata["routellm"]["role"] == "strong"
    assert model.bind(routellm_threshold=0.0).invoke(PROMPT).response_metadata["routellm"]["role"] == "strong"


def test_router_per_call(make_routed):
    from routellm_core.routers.random_router import RandomRouter

    model = make_routed(threshold=0.5)
    msg = model.invoke(PROMPT, config={"configurable": {"routellm_router": "random"}})
    meta = msg.response_metadata["routellm"]
    assert meta["router"] == "random"
    assert meta["probability"] == pytest.approx(p_strong(RandomRouter(), PROMPT))
    assert load_router("random") is load_router("random")


def test_strong_fraction_is_calibrated_on_the_given_prompts(make_routed):
    model = make_routed(threshold=None, strong_fraction=0.5, calibration_prompts=PROMPTS)
    roles = [m.response_metadata["routellm"]["role"] for m in model.batch(PROMPTS)]
    assert roles.count("strong") == len(PROMPTS) // 2
    everything = model.batch(PROMPTS[:3], config={"configurable": {"routellm_strong_fraction": 1.0}})
    assert [m.response_metadata["routellm"]["role"] for m in everything] == ["strong"] * 3


def test_route_on_modes(make_routed, small_router):
    messages = [SystemMessage("You are terse."), HumanMessage("Write a sonnet about the sea."),
                AIMessage("Waves..."), HumanMessage("Now make it rhyme better.")]
    seen: list[list] = []

    def route_on_first(msgs):
        seen.append(msgs)
        return msgs[1].text

    last = make_routed().invoke(messages).response_metadata["routellm"]["probability"]
    conversation = make_routed(route_on="conversation").invoke(messages).response_metadata["routellm"]["probability"]
    first = make_routed(route_on=route_on_first).invoke(messages).response_metadata["routellm"]["probability"]
    assert last == pytest.approx(p_strong(small_router, "Now make it rhyme better."), abs=1e-6)
    expected = "system: You are terse.\nuser: Write a sonnet about the sea.\nassistant: Waves...\nuser: Now make it rhyme better."
    assert conversation == pytest.approx(p_strong(small_router, expected), abs=1e-6)
    assert first == pytest.approx(p_strong(small_router, "Write a sonnet about the sea."), abs=1e-6)
    assert len(seen) == 1 and [m.type for m in seen[0]] == ["system", "human", "ai", "human"]


def test_multimodal_blocks_pass_through(make_routed, servers, small_router):
    strong, weak = servers
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    message = HumanMessage([{"type": "text", "text": "Describe this picture."}, image])
    reply = make_routed(threshold=0.0).invoke([message])
    assert reply.response_metadata["routellm"]["probability"] == pytest.approx(
        p_strong(small_router, "Describe this picture."), abs=1e-6)
    content = strong.requests[-1]["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}} in content


def test_stop_and_call_kwargs_reach_the_chosen_model(make_routed, servers):
    strong, _ = servers
    make_routed(threshold=0.0, temperature=0.3).invoke(PROMPT, stop=["STOP"])
    body = strong.requests[-1]
    assert body["stop"] == ["STOP"] and body["temperature"] == 0.3


# --- batch and async -----------------------------------------------------------------------------
def test_batch_routes_all_inputs_in_one_router_call(make_routed, small_router, servers):
    strong, weak = servers
    router = CountingRouter(small_router)
    threshold = sorted(p_strong(small_router, p) for p in PROMPTS[:4])[2]  # two strong, two weak
    out = make_routed(router=router, threshold=threshold).batch(PROMPTS[:4])
    assert router.calls == [PROMPTS[:4]]
    roles = [m.response_metadata["routellm"]["role"] for m in out]
    assert sorted(roles) == ["strong", "strong", "weak", "weak"]
    assert sorted(served_by(strong)) == sorted(p for p, r in zip(PROMPTS, roles) if r == "strong")
    assert sorted(served_by(weak)) == sorted(p for p, r in zip(PROMPTS, roles) if r == "weak")


async def test_abatch_routes_all_inputs_in_one_router_call(make_routed, small_router):
    router = CountingRouter(small_router)
    out = await make_routed(router=router).abatch(PROMPTS[:5])
    assert router.calls == [PROMPTS[:5]] and len(out) == 5
    assert router.threads[0] != threading.get_ident()  # scored in a worker thread


async def test_async_routing_does_not_block_the_event_loop(make_routed, small_router):
    router = CountingRouter(small_router, delay=0.5)
    model = make_routed(router=router)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    reply = await model.ainvoke(PROMPT)
    chunks = [c async for c in model.astream(PROMPT)]
    elapsed = time.perf_counter() - start
    task.cancel()
    assert elapsed >= 1.0 and ticks >= 20  # the loop kept running while the router worked for 1 s
    assert all(t != threading.get_ident() for t in router.threads)
    assert reply.response_metadata["routellm"]["role"] == chunks[0].response_metadata["routellm"]["role"]


async def test_async_invoke_and_stream(make_routed):
    model = make_routed(threshold=0.0)
    reply = await model.ainvoke(PROMPT)
    assert reply.content.startswith("Answer from strong-model")
    full = None
    async for chunk in model.astream(PROMPT):
        full = chunk if full is None else full + chunk
    assert full.content == reply.content
    assert full.response_metadata["routellm"]["role"] == "strong"
    assert full.usage_metadata["input_tokens"] == len(PROMPT.split())


def test_stream_carries_metadata_once_and_usage(make_routed):
    chunks = list(make_routed(threshold=1.0).stream(PROMPT))
    assert sum("routellm" in c.response_metadata for c in chunks) == 1
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.content == f"Answer from weak-model: {PROMPT}"
    assert full.response_metadata["routellm"]["role"] == "weak" and full.usage_metadata["output_tokens"] > 0
    assert chunks[-1].chunk_position == "last"


def test_streaming_flag_streams_from_the_chosen_model(make_routed, servers):
    strong, _ = servers
    reply = make_routed(threshold=0.0, streaming=True).invoke(PROMPT)
    assert strong.requests[-1].get("stream") is True
    assert reply.content == f"Answer from strong-model: {PROMPT}" and reply.response_metadata["routellm"]["role"] == "strong"


# --- tracing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["invoke", "stream", "batch", "chain_stream"])
def test_chosen_model_is_a_child_run(make_routed, mode):
    from langchain_core.prompts import ChatPromptTemplate

    model = make_routed(threshold=0.0)
    with collect_runs() as cb:
        if mode == "invoke":
            model.invoke(PROMPT)
        elif mode == "stream":
            list(model.stream(PROMPT))
        elif mode == "batch":
            model.batch([PROMPT, "What is 2 + 2?"])
        else:
            list((ChatPromptTemplate.from_messages([("human", "{q}")]) | model).stream({"q": PROMPT}))
    roots = cb.traced_runs
    if mode == "chain_stream":
        assert [r.name for r in roots] == ["RunnableSequence"]
        roots = [r for r in roots[0].child_runs if r.name == "ChatRouteLLM"]
    assert len(roots) == (2 if mode == "batch" else 1)
    for root in roots:
        assert root.name == "ChatRouteLLM" and len(root.child_runs) == 1
        child = root.child_runs[0]
        assert child.name == "ChatOpenAI" and child.parent_run_id == root.id
        assert child.extra["metadata"]["routellm_role"] == "strong"
        assert child.extra["metadata"]["ls_model_name"] == "strong-model"
        assert "routellm:strong" in child.tags
        message = root.outputs["generations"][0][0]["message"]
        assert message["kwargs"]["response_metadata"]["routellm"]["model"] == "strong-model"


async def test_chosen_model_is_a_child_run_async(make_routed):
    model = make_routed(threshold=1.0)
    with collect_runs() as cb:
        await model.ainvoke(PROMPT)
        [c async for c in model.astream(PROMPT)]
    assert len(cb.traced_runs) == 2
    for root in cb.traced_runs:
        assert [c.extra["metadata"]["routellm_model"] for c in root.child_runs] == ["weak-model"]


# --- fallback ------------------------------------------------------------------------------------
def test_fallback_when_the_chosen_model_fails(make_routed, servers):
    strong, weak = servers
    strong.fail_mode = "error"
    reply = make_routed(threshold=0.0).invoke(PROMPT)
    meta = reply.response_metadata["routellm"]
    assert reply.content.startswith("Answer from weak-model")
    assert meta["fallback"] is True and meta["role"] == "weak" and meta["routed_role"] == "strong"
    assert "500" in meta["fallback_error"]
    with collect_runs() as cb:
        make_routed(threshold=0.0).invoke(PROMPT)
    children = cb.traced_runs[0].child_runs
    assert [c.extra["metadata"]["routellm_role"] for c in children] == ["strong", "weak"]
    assert children[0].error and not children[1].error and children[1].extra["metadata"]["routellm_fallback"]


def test_both_failing_raises_the_original_error(make_routed, servers):
    strong, weak = servers
    strong.fail_mode = weak.fail_mode = "error"
    with pytest.raises(Exception, match="strong-model failed") as info:
        make_routed(threshold=0.0).invoke(PROMPT)
    assert any("weak-model failed" in note for note in info.value.__notes__)


def test_no_fallback_when_disabled(make_routed, servers):
    strong, weak = servers
    strong.fail_mode = "error"
    with pytest.raises(Exception, match="strong-model failed"):
        make_routed(threshold=0.0, fallback=False).invoke(PROMPT)
    assert weak.requests == []


def test_stream_falls_back_only_before_the_first_chunk(make_routed, servers):
    strong, weak = servers
    strong.fail_mode = "error"
    text = "".join(c.content for c in make_routed(threshold=0.0).stream(PROMPT))
    assert text == f"Answer from weak-model: {PROMPT}"
    strong.fail_mode = "midstream"
    weak.requests.clear()
    received = []
    with pytest.raises(Exception):
        for chunk in make_routed(threshold=0.0).stream(PROMPT):
            received.append(chunk.content)
    assert "Answer" in "".join(received) and weak.requests == []


async def test_async_fallback(make_routed, servers):
    strong, _ = servers
    strong.fail_mode = "error"
    reply = await make_routed(threshold=0.0).ainvoke(PROMPT)
    assert reply.response_metadata["routellm"]["fallback"] is True
    chunks = [c async for c in make_routed(threshold=0.0).astream(PROMPT)]
    assert "".join(c.content for c in chunks).startswith("Answer from weak-model")


# --- tools and structured output -------------------------------------------------------------------
def test_bind_tools_binds_on_the_chosen_model(make_routed, servers):
    strong, weak = servers
    model = make_routed(threshold=1.0).bind_tools([Weather], tool_choice="Weather")
    reply = model.invoke("Weather in 'Paris', please?")
    body = weak.requests[-1]
    assert [t["function"]["name"] for t in body["tools"]] == ["Weather"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Weather"}}
    assert reply.tool_calls == [{"name": "Weather", "args": {"city": "Paris"}, "id": reply.tool_calls[0]["id"],
                                 "type": "tool_call"}]
    assert reply.tool_calls[0]["id"].startswith("call_") and strong.requests == []
    assert reply.response_metadata["routellm"]["role"] == "weak"
    streamed = None
    for chunk in model.stream("Weather in 'Oslo' now?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed.tool_calls[0]["args"] == {"city": "Oslo"}


def test_with_structured_output_routes_each_models_own_method(make_routed, servers):
    strong, weak = servers
    structured = make_routed(threshold=0.0).with_structured_output(Weather, include_raw=True)
    out = structured.invoke("Weather in 'Rome'?")
    assert out["parsed"] == Weather(city="city-text")
    assert out["raw"].response_metadata["routellm"]["role"] == "strong"
    assert strong.requests[-1]["response_format"]["type"] == "json_schema" and weak.requests == []
    plain = make_routed(threshold=1.0).with_structured_output(Weather)
    assert plain.invoke("Weather in Rome?") == Weather(city="city-text") and len(weak.requests) == 1


# --- configuration as LangChain users expect -----------------------------------------------------------
def test_configurable_fields_and_router_is_never_reloaded(make_routed, small_router_path, monkeypatch):
    from routellm_core.routers.mf import MFRouter

    model = make_routed(threshold=0.5).configurable_fields(
        threshold=ConfigurableField(id="routellm_threshold"),
        fallback=ConfigurableField(id="routellm_fallback"))
    model.invoke(PROMPT)  # warm the router cache
    loads = []
    original = MFRouter.load.__func__
    monkeypatch.setattr(MFRouter, "load", classmethod(lambda cls, *a, **k: loads.append(a) or original(cls, *a, **k)))
    roles = [model.invoke(PROMPT, config={"configurable": {"routellm_threshold": t}}).response_metadata["routellm"]["role"]
             for t in (0.0, 1.0, 0.0)]
    assert roles == ["strong", "weak", "strong"] and loads == []
    assert load_router(str(small_router_path)) is load_router(str(small_router_path))


def test_configurable_alternatives(make_routed, servers):
    strong, _ = servers
    model = make_routed(threshold=1.0).configurable_alternatives(
        ConfigurableField(id="llm"), default_key="routed", strong_only=chat_openai(strong))
    assert model.invoke(PROMPT).response_metadata["routellm"]["role"] == "weak"
    direct = model.invoke(PROMPT, config={"configurable": {"llm": "strong_only"}})
    assert "routellm" not in direct.response_metadata and direct.content.startswith("Answer from strong-model")


# --- embeddings ----------------------------------------------------------------------------------
class CountingEmbeddings(RouteLLMEmbeddings):
    def embed_documents(self, texts):
        type(self).seen.extend(texts)
        return super().embed_documents(texts)


def test_langchain_embeddings_as_the_router_embedder(make_routed, small_router):
    CountingEmbeddings.seen = []
    model = make_routed(embeddings=CountingEmbeddings())
    prompt = "Which embeddings does the router use for this exact sentence?"
    p = model.invoke(prompt).response_metadata["routellm"]["probability"]
    assert CountingEmbeddings.seen == [prompt]  # our Embeddings object embedded the routed text
    assert p == pytest.approx(p_strong(small_router, prompt), abs=1e-5)  # same MiniLM vectors, same score


def test_router_trained_with_any_langchain_embeddings(alpaca_subset, servers, tmp_path):
    """A new MF router trained on an OpenAI-compatible embeddings endpoint, then used through ChatRouteLLM."""
    from langchain_openai import OpenAIEmbeddings

    from langchain_routellm import router_embedder
    from routellm_core.routers.mf import MFRouter

    strong, weak = servers
    emb = OpenAIEmbeddings(model="stub-embed", base_url=strong.base_url, api_key="test",
                           check_embedding_ctx_length=False)
    prompts = sorted({r.prompt for r in alpaca_subset})[:60]
    records = [r for r in alpaca_subset if r.prompt in set(prompts)]
    MFRouter(embedder=router_embedder(emb), epochs=5, show_progress=False).fit(records).save(tmp_path / "mf-emb")
    model = ChatRouteLLM(strong=chat_openai(strong), weak=chat_openai(weak), router=str(tmp_path / "mf-emb"),
                         embeddings=emb, threshold=0.5)
    strong.requests.clear()
    reply = model.invoke(PROMPT)
    assert 0.0 <= reply.response_metadata["routellm"]["probability"] <= 1.0
    assert reply.response_metadata["routellm"]["router"] == "mf"


# --- errors and serialisation -----------------------------------------------------------------------
def test_clear_errors(make_routed, servers):
    strong, weak = servers
    with pytest.raises(ValidationError, match="threshold=... or strong_fraction"):
        make_routed(threshold=None)
    with pytest.raises(ValidationError, match="calibration_prompts"):
        make_routed(threshold=None, strong_fraction=0.5)
    with pytest.raises(ValidationError, match=r"threshold must be in \[0, 1\]"):
        make_routed(threshold=1.5)
    with pytest.raises(ValidationError, match="route_on"):
        make_routed(route_on="question")
    with pytest.raises(InvalidInputError, match="routed text is empty"):
        make_routed().invoke("   ")
    with pytest.raises(InvalidInputError, match=r"threshold must be in \[0, 1\]"):
        make_routed().invoke(PROMPT, config={"configurable": {"routellm_threshold": 2}})
    with pytest.raises(RouteLLMError, match="unknown router 'nope'"):
        make_routed().invoke(PROMPT, config={"configurable": {"routellm_router": "nope"}})
    with pytest.raises(ValidationError, match="no API key"):
        ChatRouteLLM(strong="gpt-4o", weak=chat_openai(weak), threshold=0.5, api_key=None)
    assert strong.requests == [] and weak.requests == []


def test_serialization_round_trip(make_routed, small_router_path, monkeypatch):
    from langchain_core.load import dumpd, load
    from langchain_openai import ChatOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    model = ChatRouteLLM(strong="strong-model", weak="weak-model", base_url="http://127.0.0.1:9/v1",
                         router=str(small_router_path), threshold=0.4, route_on="conversation")
    data = dumpd(model)
    assert "sk-secret-value-123" not in str(data)  # the key is a secret reference, never the value
    loaded = load(data, valid_namespaces=["langchain_routellm"], allowed_objects=[ChatRouteLLM, ChatOpenAI],
                  secrets_from_env=True)
    assert loaded.asdict() == model.asdict() and loaded.route_on == "conversation"
    assert loaded.strong.openai_api_base == "http://127.0.0.1:9/v1"


async def test_astream_events_show_each_token_once(make_routed):
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda

    model = make_routed(threshold=0.0)
    expected = f"Answer from strong-model: {PROMPT}"

    async def tokens(runnable, value):
        return "".join([e["data"]["chunk"].content async for e in runnable.astream_events(value, version="v2")
                        if e["event"] == "on_chat_model_stream"])

    # streamed by ChatRouteLLM itself (the chosen model's run does not repeat the tokens)
    assert await tokens(ChatPromptTemplate.from_messages([("human", "{q}")]) | model, {"q": PROMPT}) == expected

    # invoked inside a step: the chosen model (a child run) streams, as any chat model would
    async def ask(q: str):
        return await model.ainvoke(q)

    assert await tokens(RunnableLambda(ask), PROMPT) == expected


def test_batch_with_a_bad_input_reports_it_and_answers_the_rest(make_routed, small_router):
    router = CountingRouter(small_router)
    model = make_routed(router=router)
    out = model.batch(["   ", PROMPT, PROMPTS[0]], return_exceptions=True)
    assert isinstance(out[0], InvalidInputError) and "routed text is empty" in str(out[0])
    assert [m.content.split(":")[0] for m in out[1:]] == [
        f"Answer from {m.response_metadata['routellm']['role']}-model" for m in out[1:]]
    assert router.calls == [[PROMPT, PROMPTS[0]]]
    bad = model.batch([PROMPT, PROMPTS[0]], config=[{}, {"configurable": {"routellm_threshold": 7}}],
                      return_exceptions=True)
    assert isinstance(bad[1], InvalidInputError) and bad[0].response_metadata["routellm"]["threshold"] == 0.5
    assert router.calls[-1] == [PROMPT]
