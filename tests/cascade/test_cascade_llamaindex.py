"""LlamaIndex ``RouteLLM`` in cascade mode, against real OpenAI-like clients on 127.0.0.1 servers.

A real text-feature scorer with forced thresholds (0.0: "bad", 1.0: "good").
"""

from __future__ import annotations

import pytest
from cascade_helpers import PROMPT, STRONG_ANSWER, WEAK_ANSWER

from routellm_core.cascade_policy import CASCADE_FIELDS
from routellm_core.policy import METADATA_FIELDS

pytest.importorskip("llama_index.llms.openai_like")


def _client(server):
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(model=server.model, api_base=server.base_url, api_key="test", is_chat_model=True,
                      is_function_calling_model=True, max_retries=0, timeout=20)


def _llm(servers, scorer, escalate_threshold, **kwargs):
    from llamaindex_routellm import RouteLLM

    strong, weak = servers
    return RouteLLM(strong=_client(strong), weak=_client(weak),
                    cascade={"scorer": scorer, "escalate_threshold": escalate_threshold}, **kwargs)


def _user(text):
    from llama_index.core.base.llms.types import ChatMessage

    return [ChatMessage(role="user", content=text)]


def test_bad_answer_escalates_good_answer_is_kept(servers, feature_scorer):
    strong, weak = servers
    response = _llm(servers, feature_scorer, 0.0).chat(_user(PROMPT))
    meta = response.additional_kwargs["routellm"]
    assert response.message.content == STRONG_ANSWER and response.raw["routellm"] == meta
    assert set(meta) == set(METADATA_FIELDS) | set(CASCADE_FIELDS)
    assert meta["escalated"] is True and meta["calls"] == ["weak", "strong"] and meta["wasted_calls"] == 1
    assert meta["model"] == "strong-model" and meta["first_role"] == "weak"
    kept = _llm(servers, feature_scorer, 1.0).complete(PROMPT)
    assert kept.text == WEAK_ANSWER and kept.additional_kwargs["routellm"]["calls"] == ["weak"]
    assert len(strong.requests) == 1 and len(weak.requests) == 2


async def test_async_chat_and_stream(servers, feature_scorer):
    strong, weak = servers
    llm = _llm(servers, feature_scorer, 0.0)
    response = await llm.achat(_user(PROMPT))
    assert response.message.content == STRONG_ANSWER
    chunks = [c async for c in await llm.astream_chat(_user(PROMPT))]
    assert chunks[-1].message.content == STRONG_ANSWER and len(chunks) > 2
    assert "".join(c.delta or "" for c in chunks) == STRONG_ANSWER  # no weak text leaked into the stream
    assert chunks[0].additional_kwargs["routellm"]["calls"] == ["weak", "strong"]


def test_stream_buffers_then_streams_the_kept_answer(servers, feature_scorer):
    strong, weak = servers
    chunks = list(_llm(servers, feature_scorer, 1.0).stream_chat(_user(PROMPT)))
    assert "".join(c.delta or "" for c in chunks) == WEAK_ANSWER and len(chunks) > 2 and not strong.requests
    assert {c.additional_kwargs["routellm"]["escalated"] for c in chunks} == {False}
    assert chunks[-1].raw["routellm"]["calls"] == ["weak"]
    weak.fail_mode = "midstream"  # the weak stream breaks: buffered, so nothing of it was shown
    chunks = list(_llm(servers, feature_scorer, 1.0).stream_complete(PROMPT))
    assert chunks[-1].text == STRONG_ANSWER and chunks[0].additional_kwargs["routellm"]["fallback"] is True


def test_weak_tool_call_is_not_cascaded(servers, feature_scorer):
    from llama_index.core.tools import FunctionTool

    def calculator(expression: str) -> str:
        """Evaluate an arithmetic expression."""
        return expression

    strong, weak = servers
    llm = _llm(servers, feature_scorer, 0.0)
    response = llm.chat_with_tools([FunctionTool.from_defaults(fn=calculator)], user_msg=PROMPT)
    meta = response.additional_kwargs["routellm"]
    assert llm.get_tool_calls_from_response(response)[0].tool_name == "calculator" and not strong.requests
    assert meta["cascade_skipped"] == "tool_calls" and meta["calls"] == ["weak"]


def test_with_a_threshold_the_router_decides_first(servers, feature_scorer, word_count_router):
    strong, weak = servers
    llm = _llm(servers, feature_scorer, 0.0, router=word_count_router, threshold=0.5)
    meta = llm.chat(_user(PROMPT)).additional_kwargs["routellm"]
    assert meta["first_role"] == "strong" and meta["cascade_skipped"] == "routed_strong" and not weak.requests


def test_routing_event_reports_the_cascade(servers, feature_scorer, routing_events):
    """Event handlers (observability) see both decisions, as the response metadata does."""
    meta = _llm(servers, feature_scorer, 0.0).chat(_user(PROMPT)).additional_kwargs["routellm"]
    (event,) = routing_events
    assert event.cascade is True and event.escalated is True and event.first_role == "weak"
    assert event.calls == ["weak", "strong"] and event.wasted_calls == 1 and event.role == "strong"
    assert event.answer_p_inadequate == meta["answer_p_inadequate"] and event.escalate_threshold == 0.0
