"""RAG end to end: a VectorStoreIndex with local MiniLM embeddings, queried through routed components.

The index embeds with LlamaIndex's HuggingFaceEmbedding pointed at the packaged MiniLM folder
(offline); both LLMs are OpenAI-like clients talking HTTP to loopback servers.
"""

from __future__ import annotations

import pytest
from llama_index.core import Document, VectorStoreIndex

DOCS = [
    "The Nimbus 3 drone has a flight time of 42 minutes and a top speed of 68 km/h.",
    "Refunds for the Nimbus 3 are accepted within 30 days of delivery if the drone was not flown.",
    "The Nimbus 3 firmware is updated over Wi-Fi from the companion app; updates take about 6 minutes.",
    "Nimbus batteries should be stored at 40 to 60 percent charge in a cool, dry place.",
]
QUESTION = "How long can the Nimbus 3 fly on one battery?"


@pytest.fixture(scope="module")
def index(minilm_embed):
    return VectorStoreIndex.from_documents([Document(text=t) for t in DOCS], embed_model=minilm_embed)


def expected(small_router, text: str, threshold: float) -> str:
    return "strong" if float(small_router.predict_proba([text])[0]) >= threshold else "weak"


def test_index_uses_local_minilm(index, minilm_embed):
    nodes = index.as_retriever(similarity_top_k=1).retrieve(QUESTION)
    assert "flight time of 42 minutes" in nodes[0].node.get_content()
    assert minilm_embed.model_name.endswith("model")  # a local folder, not a hub id


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_as_query_engine_with_routed_llm(index, make_routed, llm_pair, small_router, routing_events, threshold):
    strong, weak, *_ = llm_pair
    engine = index.as_query_engine(llm=make_routed(threshold=threshold), similarity_top_k=2)
    response = engine.query(QUESTION)
    role = "strong" if threshold == 0.0 else "weak"
    server, idle = (strong, weak) if role == "strong" else (weak, strong)
    assert str(response).startswith(f"Answer from {role}-model")
    prompt = server.requests[-1]["messages"][-1]["content"]
    assert "flight time of 42 minutes" in prompt and QUESTION in prompt  # retrieved context reached the model
    assert idle.requests == []
    # Routed on the raw query (the template's query_str), not on the context-stuffed prompt.
    assert [e.role for e in routing_events] == [role]
    p_query = float(small_router.predict_proba([QUESTION])[0])
    assert routing_events[0].probability == pytest.approx(p_query, abs=1e-6)


@pytest.mark.parametrize("mode", ["refine", "tree_summarize", "simple_summarize"])
def test_every_synthesizer_call_routes_on_the_query(index, make_routed, small_router, routing_events, mode):
    engine = index.as_query_engine(llm=make_routed(threshold=0.5), similarity_top_k=3, response_mode=mode)
    engine.query(QUESTION)
    p_query = float(small_router.predict_proba([QUESTION])[0])
    assert routing_events and all(e.probability == pytest.approx(p_query, abs=1e-6) for e in routing_events)


async def test_structured_streaming_routes_on_the_query(make_routed, small_router, routing_events):
    from llama_index.core.prompts import PromptTemplate
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: str

    llm = make_routed(threshold=0.5)
    prompt = PromptTemplate("Context: {context_str}\nQuestion: {query_str}").partial_format(query_str=QUESTION)
    parts = list(llm.stream_structured_predict(Answer, prompt, context_str=" ".join(DOCS)))
    assert parts and parts[-1].answer == "answer-text"
    parts = [p async for p in await llm.astream_structured_predict(Answer, prompt, context_str=" ".join(DOCS))]
    assert parts and parts[-1].answer == "answer-text"
    p_query = float(small_router.predict_proba([QUESTION])[0])
    assert len(routing_events) == 2 and all(e.probability == pytest.approx(p_query, abs=1e-6) for e in routing_events)


def test_routing_on_query_vs_stuffed_prompt(index, make_routed, llm_pair, small_router, routing_events):
    """With route_on_query off, the router judges the filled-in template: a different score."""
    engine = index.as_query_engine(llm=make_routed(threshold=0.5, route_on_query=False), similarity_top_k=2)
    engine.query(QUESTION)
    stuffed = llm_pair[0].requests[-1] if llm_pair[0].requests else llm_pair[1].requests[-1]
    stuffed_prompt = stuffed["messages"][-1]["content"]
    assert routing_events[-1].probability == pytest.approx(float(small_router.predict_proba([stuffed_prompt])[0]), abs=1e-5)
    assert routing_events[-1].probability != pytest.approx(float(small_router.predict_proba([QUESTION])[0]), abs=1e-6)


def test_streaming_query_engine(index, make_routed, llm_pair, small_router):
    threshold = 0.5
    engine = index.as_query_engine(llm=make_routed(threshold=threshold), streaming=True, similarity_top_k=1)
    response = engine.query(QUESTION)
    text = "".join(response.response_gen)
    role = expected(small_router, QUESTION, threshold)
    assert text.startswith(f"Answer from {role}-model")
    server = llm_pair[0] if role == "strong" else llm_pair[1]
    assert server.requests[-1]["stream"] is True


async def test_async_query_engine(index, make_routed, llm_pair, small_router, routing_events):
    engine = index.as_query_engine(llm=make_routed(threshold=0.5), similarity_top_k=1)
    response = await engine.aquery(QUESTION)
    role = expected(small_router, QUESTION, 0.5)
    assert str(response).startswith(f"Answer from {role}-model")
    assert routing_events[-1].role == role


def test_chat_engine_with_routed_llm(index, make_routed, llm_pair):
    chat = index.as_chat_engine(llm=make_routed(threshold=1.0), chat_mode="context", similarity_top_k=1)
    reply = chat.chat(QUESTION)
    assert str(reply).startswith("Answer from weak-model")
    assert "flight time of 42 minutes" in str(llm_pair[1].requests[-1]["messages"])


def _engines(index, llm_pair):
    _, _, strong_llm, weak_llm = llm_pair
    # The sides may differ in more than the LLM: here the strong side also retrieves more context.
    return (index.as_query_engine(llm=strong_llm, similarity_top_k=3),
            index.as_query_engine(llm=weak_llm, similarity_top_k=1))


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_routellm_query_engine(index, llm_pair, small_router, routing_events, threshold):
    from llamaindex_routellm import RouteLLMQueryEngine

    strong_engine, weak_engine = _engines(index, llm_pair)
    engine = RouteLLMQueryEngine(strong_engine, weak_engine, router=small_router, threshold=threshold)
    response = engine.query(QUESTION)
    role = "strong" if threshold == 0.0 else "weak"
    meta = response.metadata["routellm"]
    assert meta["role"] == role and meta["model"] == f"{role}-model" and meta["fallback"] is False
    assert meta["probability"] == pytest.approx(float(small_router.predict_proba([QUESTION])[0]), abs=1e-6)
    assert str(response).startswith(f"Answer from {role}-model")
    assert len(response.source_nodes) == (3 if role == "strong" else 1)
    assert [(e.source, e.role) for e in routing_events] == [("query_engine", role)]


async def test_routellm_query_engine_async_and_fallback(index, llm_pair, small_router):
    from llamaindex_routellm import RouteLLMQueryEngine

    strong_engine, weak_engine = _engines(index, llm_pair)
    engine = RouteLLMQueryEngine(strong_engine, weak_engine, router=small_router, threshold=0.0)
    llm_pair[0].fail_mode = "error"
    response = await engine.aquery(QUESTION)
    meta = response.metadata["routellm"]
    assert meta["routed_role"] == "strong" and meta["role"] == "weak" and meta["fallback"] is True
    assert str(response).startswith("Answer from weak-model")


def test_selector_in_router_query_engine(index, llm_pair, small_router, routing_events):
    from llama_index.core.query_engine import RouterQueryEngine
    from llama_index.core.tools import QueryEngineTool

    from llamaindex_routellm import RouteLLMSelector

    strong_engine, weak_engine = _engines(index, llm_pair)
    tools = [QueryEngineTool.from_defaults(weak_engine, name="weak", description="cheap model"),
             QueryEngineTool.from_defaults(strong_engine, name="strong", description="strong model")]
    p = float(small_router.predict_proba([QUESTION])[0])
    for threshold, role in [(p, "strong"), (min(1.0, p + 1e-6), "weak")]:
        selector = RouteLLMSelector(router=small_router, threshold=threshold, strong_choice="strong", weak_choice="weak")
        engine = RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=llm_pair[3])
        response = engine.query(QUESTION)
        assert str(response).startswith(f"Answer from {role}-model")
        result = response.metadata["selector_result"]
        assert result.ind == (1 if role == "strong" else 0)
        assert f"-> {role}" in result.reason and "P(strong wins)=" in result.reason
        assert selector.last_decision["model"] == role and routing_events[-1].source == "selector"


async def test_selector_async_and_bad_choice(llm_pair, small_router):
    from llama_index.core.tools import ToolMetadata

    from llamaindex_routellm import RouteLLMSelector
    from routellm_core.errors import InvalidInputError

    choices = [ToolMetadata(name="big", description="a"), ToolMetadata(name="small", description="b")]
    result = await RouteLLMSelector(router=small_router, threshold=0.0).aselect(choices, QUESTION)
    assert result.ind == 0
    with pytest.raises(InvalidInputError, match="'huge' is not among the tool names"):
        RouteLLMSelector(router=small_router, threshold=0.5, strong_choice="huge").select(choices, QUESTION)


def test_settings_llm(index, make_routed, llm_pair, routing_events):
    """Set once as Settings.llm, the routed LLM serves every engine that does not name its own."""
    from llama_index.core import Settings

    previous = Settings._llm
    Settings.llm = make_routed(threshold=1.0)
    try:
        response = index.as_query_engine(similarity_top_k=1).query(QUESTION)
    finally:
        Settings._llm = previous
    assert str(response).startswith("Answer from weak-model")
    assert [e.role for e in routing_events] == ["weak"]
