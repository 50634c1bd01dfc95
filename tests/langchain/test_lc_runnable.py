"""RouteLLMRunnable: routing between two whole chains over real HTTP, with the small real MF router."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tracers.context import collect_runs
from lc_helpers import CountingRouter, chat_openai, served_by

from langchain_routellm import DECISION_EVENT, RouteLLMRunnable
from routellm_core import InvalidInputError

QUESTIONS = ["What is 2 + 2?", "Prove that there are infinitely many primes.", "Name three primary colors.",
             "Explain how a hash map handles collisions."]


class Recorder(BaseCallbackHandler):
    """Collects custom events and the metadata of chat-model runs."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.chat_metadata: list[dict] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, data))

    def on_chat_model_start(self, serialized: Any, messages: Any, *, metadata: dict | None = None, **kwargs: Any) -> None:
        self.chat_metadata.append(metadata or {})


@pytest.fixture
def chains(servers):
    """Two chains with the same prompt and different models: (strong chain, weak chain)."""
    strong, weak = servers
    prompt = ChatPromptTemplate.from_messages([("system", "Answer in a {style} way."), ("human", "{question}")])
    return prompt | chat_openai(strong), prompt | chat_openai(weak)


@pytest.fixture
def make_runnable(chains, small_router_path):
    def make(**kwargs: Any) -> RouteLLMRunnable:
        params = {"strong": chains[0], "weak": chains[1], "router": str(small_router_path), "threshold": 0.5,
                  "route_on": "question"}
        return RouteLLMRunnable(**{**params, **kwargs})

    return make


def p_strong(router, text: str) -> float:
    return float(router.predict_proba([text])[0])


def test_routes_on_the_named_key_and_reports_the_decision(make_runnable, servers, small_router):
    strong, weak = servers
    q = QUESTIONS[1]
    p = p_strong(small_router, q)
    recorder = Recorder()
    out = make_runnable(threshold=min(1.0, p + 0.01)).invoke({"question": q, "style": "brief"},
                                                             config={"callbacks": [recorder]})
    assert isinstance(out, AIMessage) and out.content == f"Answer from weak-model: {q}"
    meta = out.response_metadata["routellm"]
    assert meta["role"] == "weak" and meta["model"] == "weak-model" and meta["fallback"] is False
    assert meta["probability"] == pytest.approx(p, abs=1e-6)  # scored on the question only
    assert recorder.events == [(DECISION_EVENT, meta)]
    assert recorder.chat_metadata[0]["routellm_role"] == "weak"
    assert served_by(weak) == [q] and strong.requests == []
    assert weak.requests[0]["messages"][0]["content"] == "Answer in a brief way."


def test_non_message_output_unchanged_and_decision_in_callbacks(chains, small_router_path, servers):
    strong, weak = servers
    routed = RouteLLMRunnable(strong=chains[0] | StrOutputParser(), weak=chains[1] | StrOutputParser(),
                              router=str(small_router_path), threshold=0.0, route_on="question")
    recorder = Recorder()
    with collect_runs() as cb:
        out = routed.invoke({"question": QUESTIONS[0], "style": "plain"}, config={"callbacks": [recorder]})
    assert out == f"Answer from strong-model: {QUESTIONS[0]}"
    assert recorder.events[0][1]["role"] == "strong" and recorder.events[0][1]["model"] == "strong-model"
    root = cb.traced_runs[0]
    assert root.name == "RouteLLMRunnable" and len(root.child_runs) == 1
    assert root.child_runs[0].extra["metadata"]["routellm_role"] == "strong"
    assert "routellm:strong" in root.child_runs[0].tags


def test_per_call_config_override(make_runnable):
    routed = make_runnable(threshold=0.5)
    x = {"question": QUESTIONS[0], "style": "plain"}
    roles = [routed.invoke(x, config={"configurable": {"routellm_threshold": t}}).response_metadata["routellm"]["role"]
             for t in (0.0, 1.0)]
    assert roles == ["strong", "weak"]


def test_batch_routes_in_one_call_and_batches_each_model(make_runnable, servers, small_router):
    strong, weak = servers
    router = CountingRouter(small_router)
    ranked = sorted(p_strong(small_router, q) for q in QUESTIONS)
    threshold = (ranked[1] + ranked[2]) / 2  # midway: two strong, two weak, with no tie at the threshold
    inputs = [{"question": q, "style": "plain"} for q in QUESTIONS] + [{"style": "no question"}]
    outs = make_runnable(router=router, threshold=threshold).batch(inputs, return_exceptions=True)
    assert router.calls == [QUESTIONS]
    assert isinstance(outs[-1], InvalidInputError) and "not a key of the input" in str(outs[-1])
    roles = [o.response_metadata["routellm"]["role"] for o in outs[:-1]]
    assert sorted(roles) == ["strong", "strong", "weak", "weak"]
    for out, q, role in zip(outs, QUESTIONS, roles):
        assert out.content == f"Answer from {role}-model: {q}"
    assert sorted(served_by(strong)) == sorted(q for q, r in zip(QUESTIONS, roles) if r == "strong")
    with pytest.raises(InvalidInputError):
        make_runnable().batch(inputs)


async def test_async_invoke_and_batch(make_runnable, small_router):
    router = CountingRouter(small_router)
    routed = make_runnable(router=router, threshold=0.0)
    out = await routed.ainvoke({"question": QUESTIONS[0], "style": "plain"})
    assert out.response_metadata["routellm"]["role"] == "strong"
    outs = await routed.abatch([{"question": q, "style": "plain"} for q in QUESTIONS[:3]])
    assert [o.content for o in outs] == [f"Answer from strong-model: {q}" for q in QUESTIONS[:3]]
    assert router.calls[-1] == QUESTIONS[:3]


def test_stream_and_fallback_before_the_first_chunk(make_runnable, servers):
    strong, weak = servers
    x = {"question": QUESTIONS[2], "style": "plain"}
    chunks = list(make_runnable(threshold=0.0).stream(x))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert chunks[0].response_metadata["routellm"]["role"] == "strong"
    assert "".join(c.content for c in chunks) == f"Answer from strong-model: {QUESTIONS[2]}"
    strong.fail_mode = "error"
    recorder = Recorder()
    chunks = list(make_runnable(threshold=0.0).stream(x, config={"callbacks": [recorder]}))
    assert "".join(c.content for c in chunks) == f"Answer from weak-model: {QUESTIONS[2]}"
    assert recorder.events[0][1]["fallback"] is True and recorder.events[0][1]["role"] == "weak"


async def test_astream_in_a_chain(make_runnable, servers):
    chain = make_runnable(threshold=1.0) | StrOutputParser()
    pieces = [p async for p in chain.astream({"question": QUESTIONS[3], "style": "plain"})]
    assert len(pieces) > 3 and "".join(pieces) == f"Answer from weak-model: {QUESTIONS[3]}"


def test_fallback_and_both_failing(make_runnable, servers):
    strong, weak = servers
    x = {"question": QUESTIONS[0], "style": "plain"}
    weak.fail_mode = "error"
    out = make_runnable(threshold=1.0).invoke(x)
    assert out.response_metadata["routellm"]["fallback"] is True and out.content.startswith("Answer from strong-model")
    strong.fail_mode = "error"
    with pytest.raises(Exception, match="weak-model failed"):
        make_runnable(threshold=1.0).invoke(x)
    outs = make_runnable(threshold=1.0).batch([x], return_exceptions=True)
    assert "weak-model failed" in str(outs[0]) and "strong-model failed" in " ".join(outs[0].__notes__)


def test_route_on_choices_and_errors(make_runnable, small_router, servers):
    strong, weak = servers
    routed = make_runnable(strong=chat_openai(strong), weak=chat_openai(weak), route_on="last_human")
    out = routed.invoke("Name three primary colors.")  # a plain string needs no key
    assert out.response_metadata["routellm"]["probability"] == pytest.approx(
        p_strong(small_router, "Name three primary colors."), abs=1e-6)
    by_fn = make_runnable(route_on=lambda x: x["question"].upper())
    got = by_fn.invoke({"question": QUESTIONS[0], "style": "x"}).response_metadata["routellm"]["probability"]
    assert got == pytest.approx(p_strong(small_router, QUESTIONS[0].upper()), abs=1e-6)
    with pytest.raises(InvalidInputError, match="set route_on to the key"):
        make_runnable(route_on="last_human").invoke({"question": "q", "style": "x"})
    with pytest.raises(InvalidInputError, match="'topic' is not a key of the input"):
        make_runnable(route_on="topic").invoke({"question": "q", "style": "x"})
