"""ChatRouteLLM and RouteLLMRunnable in cascade mode, against real OpenAI-compatible servers on 127.0.0.1.

The scorer is a real text-feature scorer; thresholds are forced (0.0: every answer is "bad",
1.0: every answer is "good") so each test knows which way the engine decides.
"""

from __future__ import annotations

import pytest
from cascade_helpers import PROMPT, STRONG_ANSWER, WEAK_ANSWER

from routellm_core.cascade_policy import CASCADE_FIELDS, cascade_cost
from routellm_core.policy import METADATA_FIELDS
from routellm_core.pricing import Price

pytest.importorskip("langchain_openai")


def _client(server):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=server.model, base_url=server.base_url, api_key="test", max_retries=0, timeout=20)


def _chat(servers, feature_scorer, escalate_threshold, **kwargs):
    from langchain_routellm import ChatRouteLLM

    strong, weak = servers
    cascade = {"scorer": feature_scorer, "escalate_threshold": escalate_threshold}
    return ChatRouteLLM(strong=_client(strong), weak=_client(weak), cascade=cascade, **kwargs)


def test_bad_answer_escalates_and_bills_the_discarded_weak_call(servers, feature_scorer):
    strong, weak = servers
    message = _chat(servers, feature_scorer, 0.0).invoke(PROMPT)
    meta = message.response_metadata["routellm"]
    assert message.content == STRONG_ANSWER and len(weak.requests) == len(strong.requests) == 1
    assert set(meta) == set(METADATA_FIELDS) | set(CASCADE_FIELDS)
    assert meta["first_role"] == "weak" and meta["escalated"] is True and meta["role"] == "strong"
    assert meta["model"] == "strong-model" and meta["calls"] == ["weak", "strong"] and meta["wasted_calls"] == 1
    assert 0.0 < meta["answer_p_inadequate"] < 1.0 and meta["escalate_threshold"] == 0.0
    usage = {"weak": (10, 20), "strong": (10, 30)}
    prices = {"weak": Price(1.0, 1.0), "strong": Price(10.0, 10.0)}
    assert cascade_cost(meta, usage, prices) == pytest.approx((30 + 400) / 1e6)


async def test_good_answer_keeps_the_weak_model_async(servers, feature_scorer):
    strong, weak = servers
    message = await _chat(servers, feature_scorer, 1.0).ainvoke(PROMPT)
    meta = message.response_metadata["routellm"]
    assert message.content == WEAK_ANSWER and not strong.requests and len(weak.requests) == 1
    assert meta["escalated"] is False and meta["role"] == "weak" and meta["calls"] == ["weak"]
    assert meta["wasted_calls"] == 0 and meta["answer_p_inadequate"] is not None


def test_stream_buffers_the_weak_answer_until_it_is_scored(servers, feature_scorer):
    strong, weak = servers
    llm = _chat(servers, feature_scorer, 0.0)
    chunks = list(llm.stream(PROMPT))
    # Nothing of the discarded weak answer reached the caller: every chunk is the strong model's.
    assert "".join(c.content for c in chunks) == STRONG_ANSWER and len(chunks) > 2
    assert chunks[0].response_metadata["routellm"]["calls"] == ["weak", "strong"]
    assert weak.requests[0]["stream"] is True and strong.requests[0]["stream"] is True
    # A weak stream that breaks midway was never shown: the strong model answers instead.
    weak.fail_mode = "midstream"
    chunks = list(_chat(servers, feature_scorer, 1.0).stream(PROMPT))
    assert "".join(c.content for c in chunks) == STRONG_ANSWER
    meta = chunks[0].response_metadata["routellm"]
    assert meta["fallback"] is True and meta["role"] == "strong" and meta["calls"] == ["strong"]


async def test_kept_weak_answer_streams_in_its_chunks(servers, feature_scorer):
    strong, weak = servers
    chunks = [c async for c in _chat(servers, feature_scorer, 1.0).astream(PROMPT)]
    assert "".join(c.content for c in chunks) == WEAK_ANSWER and len(chunks) > 2 and not strong.requests
    assert chunks[0].response_metadata["routellm"]["calls"] == ["weak"]
    assert all("routellm" not in c.response_metadata for c in chunks[1:])


def test_weak_tool_call_is_not_cascaded(servers, feature_scorer):
    from langchain_core.tools import tool

    @tool
    def calculator(expression: str) -> str:
        """Evaluate an arithmetic expression."""
        return expression

    strong, weak = servers
    message = _chat(servers, feature_scorer, 0.0).bind_tools([calculator]).invoke(PROMPT)
    meta = message.response_metadata["routellm"]
    assert message.tool_calls and message.tool_calls[0]["name"] == "calculator" and not strong.requests
    assert meta["cascade_skipped"] == "tool_calls" and meta["escalated"] is False and meta["calls"] == ["weak"]


def test_with_a_threshold_the_router_decides_on_the_prompt_first(servers, feature_scorer, word_count_router):
    strong, weak = servers
    llm = _chat(servers, feature_scorer, 0.0, router=word_count_router, threshold=0.5)
    long_meta = llm.invoke(PROMPT).response_metadata["routellm"]  # 20+ words: strong at once
    assert long_meta["first_role"] == "strong" and long_meta["cascade_skipped"] == "routed_strong"
    assert long_meta["router"] == "words" and long_meta["calls"] == ["strong"] and not weak.requests
    short = llm.invoke("What is 2 + 2?").response_metadata["routellm"]  # short: weak first, then the cascade
    assert short["first_role"] == "weak" and short["calls"] == ["weak", "strong"]


def test_without_cascade_nothing_changes(servers, word_count_router):
    from langchain_routellm import ChatRouteLLM

    strong, weak = servers
    llm = ChatRouteLLM(strong=_client(strong), weak=_client(weak), router=word_count_router, threshold=0.5)
    meta = llm.invoke("What is 2 + 2?").response_metadata["routellm"]
    assert tuple(meta) == METADATA_FIELDS and meta["role"] == "weak" and not strong.requests


def test_runnable_cascade_over_two_chains(servers, feature_scorer):
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from langchain_routellm import DECISION_EVENT, RouteLLMRunnable

    class Events(BaseCallbackHandler):
        def __init__(self):
            self.seen = []

        def on_custom_event(self, name, data, **kwargs):
            if name == DECISION_EVENT:
                self.seen.append(data)

    strong, weak = servers
    prompt = ChatPromptTemplate.from_template("{question}")
    chains = {role: prompt | _client(s) | StrOutputParser() for role, s in (("strong", strong), ("weak", weak))}
    events = Events()
    routed = RouteLLMRunnable(**chains, route_on="question",
                              cascade={"scorer": feature_scorer, "escalate_threshold": 0.0})
    out = routed.invoke({"question": PROMPT}, {"callbacks": [events]})
    assert out == STRONG_ANSWER and events.seen[0]["calls"] == ["weak", "strong"]
    assert events.seen[0]["escalated"] is True and events.seen[0]["wasted_calls"] == 1
    kept = RouteLLMRunnable(**chains, route_on="question", cascade={"scorer": feature_scorer, "escalate_threshold": 1.0})
    assert "".join(kept.stream({"question": PROMPT})) == WEAK_ANSWER
    assert len(strong.requests) == 1  # only the escalation above


def test_batch_cascades_each_input_and_bad_settings_fail_at_construction(servers, feature_scorer):
    from langchain_routellm import ChatRouteLLM
    from routellm_core import InvalidInputError

    strong, weak = servers
    out = _chat(servers, feature_scorer, 0.0).batch([PROMPT, "What is 2 + 2?"])
    assert [m.response_metadata["routellm"]["calls"] for m in out] == [["weak", "strong"]] * 2
    with pytest.raises((InvalidInputError, ValueError), match="unknown cascade setting"):
        ChatRouteLLM(strong=_client(strong), weak=_client(weak), cascade={"escalate_threshold": 0.5, "thresh": 1})


def test_stream_edge_cases_strong_first_and_failed_escalation(servers, feature_scorer, word_count_router):
    strong, weak = servers
    routed = _chat(servers, feature_scorer, 0.0, router=word_count_router, threshold=0.5)
    chunks = list(routed.stream(PROMPT))  # a long prompt: routed to the strong model, streamed at once
    assert "".join(c.content for c in chunks) == STRONG_ANSWER
    assert chunks[0].response_metadata["routellm"]["cascade_skipped"] == "routed_strong" and not weak.requests
    strong.fail_mode = "error"  # the strong model fails: the prompt-routed call falls back to the weak one
    chunks = list(routed.stream(PROMPT))
    assert "".join(c.content for c in chunks) == WEAK_ANSWER and chunks[0].response_metadata["routellm"]["fallback"]
    # an escalation whose strong stream fails keeps the buffered weak answer and says why
    chunks = list(_chat(servers, feature_scorer, 0.0).stream(PROMPT))
    meta = chunks[0].response_metadata["routellm"]
    assert "".join(c.content for c in chunks) == WEAK_ANSWER and meta["escalated"] is True
    assert meta["role"] == "weak" and meta["calls"] == ["weak"] and meta["fallback_error"]


def test_a_cascade_policy_object_keeps_its_own_prompt_stage(servers, feature_scorer):
    from langchain_routellm import ChatRouteLLM
    from routellm_core import RoutingPolicy
    from routellm_core.cascade_policy import CascadePolicy

    strong, weak = servers
    policy = CascadePolicy(scorer=feature_scorer, escalate_threshold=0.0, routing=RoutingPolicy("random", threshold=0.0))
    meta = ChatRouteLLM(strong=_client(strong), weak=_client(weak), cascade=policy).invoke(PROMPT).response_metadata
    assert meta["routellm"]["router"] == "random" and meta["routellm"]["calls"] == ["strong"] and not weak.requests


@pytest.mark.parametrize(("escalate_threshold", "role"), [(0.0, "strong"), (1.0, "weak")])
def test_structured_output_keeps_the_cascade(servers, feature_scorer, escalate_threshold, role):
    """Without a prompt stage, structured output is cascaded too (the scorer reads the answer's JSON)."""
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str

    strong, weak = servers
    structured = _chat(servers, feature_scorer, escalate_threshold).with_structured_output(Weather, include_raw=True)
    out = structured.invoke("Weather in 'Rome'?")
    assert isinstance(out["parsed"], Weather)
    meta = out["raw"].response_metadata["routellm"]
    assert meta["first_role"] == "weak" and meta["role"] == role
    assert len(weak.requests) == 1 and len(strong.requests) == (1 if role == "strong" else 0)
    plain = _chat(servers, feature_scorer, escalate_threshold).with_structured_output(Weather)
    assert isinstance(plain.invoke("Weather in 'Oslo'?"), Weather) and len(weak.requests) == 2
