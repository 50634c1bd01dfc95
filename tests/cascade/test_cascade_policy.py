"""The cascade decision: escalation on forced thresholds, tool calls, prompt-first routing, metadata, cost.

Models are real OpenAI-compatible servers on 127.0.0.1; the scorer is a real one trained on graded answers.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from routellm_core.cascade_policy import (CASCADE_FIELDS, CascadePolicy, cascade_cost, escalation_share)
from routellm_core.errors import InvalidInputError
from routellm_core.policy import METADATA_FIELDS, RoutingPolicy
from routellm_core.pricing import Price

PROMPT = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many in all?"
WEAK_ANSWER = "She sold 48 / 2 = 24 clips in May, so 48 + 24 = 72 clips in all. The answer is 72."


def _client(servers, tools=None):
    strong, weak = servers
    urls = {"strong": strong.base_url, "weak": weak.base_url}

    def call(role):
        body = {"model": role, "messages": [{"role": "user", "content": PROMPT}]}
        if tools:
            body["tools"] = tools
        r = httpx.post(f"{urls[role]}/chat/completions", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    return call


def text_of(response) -> str:
    return response["choices"][0]["message"].get("content") or ""


def tool_calls_of(response) -> bool:
    return bool(response["choices"][0]["message"].get("tool_calls"))


@pytest.fixture
def answer_servers(openai_pair):
    strong, weak = openai_pair
    weak.responder = lambda body: WEAK_ANSWER
    return strong, weak


def test_bad_score_escalates_and_counts_the_wasted_weak_call(feature_scorer, answer_servers):
    strong, weak = answer_servers
    policy = CascadePolicy(scorer=feature_scorer, escalate_threshold=0.0)  # every answer is "bad"
    result = policy.run(PROMPT, _client(answer_servers), text_of, tool_calls_of,
                        models={"strong": "strong-model", "weak": "weak-model"})
    meta = result.metadata
    assert result.answer["model"] == "strong-model"
    assert len(weak.requests) == 1 and len(strong.requests) == 1
    assert set(METADATA_FIELDS) | set(CASCADE_FIELDS) == set(meta)
    assert meta["escalated"] is True and meta["role"] == meta["routed_role"] == "strong" and meta["first_role"] == "weak"
    assert meta["calls"] == ["weak", "strong"] and meta["wasted_calls"] == 1
    assert 0.0 < meta["answer_p_inadequate"] < 1.0 and meta["escalate_threshold"] == 0.0
    assert meta["probability"] is None and meta["router"] == "cascade" and meta["fallback"] is False
    tokens = {"weak": (100, 50), "strong": (100, 80)}
    prices = {"weak": Price(1.0, 2.0), "strong": Price(10.0, 30.0)}
    assert cascade_cost(meta, tokens, prices) == pytest.approx((100 + 100 + 1000 + 2400) / 1e6)


def test_good_score_keeps_the_weak_answer(feature_scorer, answer_servers):
    strong, weak = answer_servers
    policy = CascadePolicy(scorer=feature_scorer, escalate_threshold=1.0)  # no answer is "bad"
    result = policy.run(PROMPT, _client(answer_servers), text_of, tool_calls_of)
    assert text_of(result.answer) == WEAK_ANSWER and not strong.requests
    meta = result.metadata
    assert meta["escalated"] is False and meta["role"] == "weak" and meta["calls"] == ["weak"] and meta["wasted_calls"] == 0
    assert cascade_cost(meta, {"weak": (10, 10)}, {"weak": Price(1.0, 1.0)}) == pytest.approx(20 / 1e6)


def test_threshold_between_two_real_scores_separates_them(feature_scorer):
    refusal = "I'm sorry, but I cannot help with that."
    p_refusal, p_good = feature_scorer.predict_proba([PROMPT, PROMPT], [refusal, WEAK_ANSWER])
    assert p_refusal > p_good
    policy = CascadePolicy(scorer=feature_scorer, escalate_threshold=(p_refusal + p_good) / 2)
    checks = policy.check([PROMPT, PROMPT], [refusal, WEAK_ANSWER])
    assert [c.escalate for c in checks] == [True, False]


def test_tool_call_answers_are_never_cascaded(feature_scorer, answer_servers):
    strong, weak = answer_servers
    tools = [{"type": "function", "function": {"name": "calculator", "parameters": {"type": "object", "properties": {
        "expression": {"type": "string"}}, "required": ["expression"]}}}]
    policy = CascadePolicy(scorer=feature_scorer, escalate_threshold=0.0)
    result = policy.run(PROMPT, _client(answer_servers, tools), text_of, tool_calls_of)
    assert tool_calls_of(result.answer) and not strong.requests
    assert result.metadata["cascade_skipped"] == "tool_calls" and result.metadata["answer_p_inadequate"] is None
    assert result.metadata["escalated"] is False and result.metadata["calls"] == ["weak"]


def test_prompt_first_routing_sends_strong_prompts_directly(feature_scorer, answer_servers):
    strong, weak = answer_servers
    policy = CascadePolicy(scorer=feature_scorer, escalate_threshold=0.0, routing=RoutingPolicy("random", threshold=0.0))
    result = policy.run(PROMPT, _client(answer_servers), text_of, tool_calls_of)
    meta = result.metadata
    assert not weak.requests and len(strong.requests) == 1
    assert meta["first_role"] == "strong" and meta["cascade_skipped"] == "routed_strong" and meta["calls"] == ["strong"]
    assert meta["router"] == "random" and meta["probability"] is not None and meta["threshold"] == 0.0


def test_failed_weak_call_falls_back_and_failed_escalation_keeps_the_weak_answer(feature_scorer, answer_servers):
    strong, weak = answer_servers
    policy = CascadePolicy(scorer=feature_scorer, escalate_threshold=0.0)
    weak.fail_mode = "error"
    meta = policy.run(PROMPT, _client(answer_servers), text_of, tool_calls_of).metadata
    assert meta["role"] == "strong" and meta["routed_role"] == "weak" and meta["fallback"] is True
    assert "HTTPStatusError" in meta["fallback_error"] and meta["calls"] == ["strong"] and meta["wasted_calls"] == 0
    weak.fail_mode, strong.fail_mode = None, "error"
    result = policy.run(PROMPT, _client(answer_servers), text_of, tool_calls_of)
    assert text_of(result.answer) == WEAK_ANSWER
    assert result.metadata["routed_role"] == "strong" and result.metadata["role"] == "weak"
    assert result.metadata["fallback"] is True and "HTTPStatusError" in result.metadata["fallback_error"]
    assert result.metadata["calls"] == ["weak"] and result.metadata["escalated"] is True


def test_async_run_matches_sync(feature_scorer, answer_servers):
    strong, weak = answer_servers
    call = _client(answer_servers)

    async def acall(role):
        return await asyncio.to_thread(call, role)

    policy = CascadePolicy(scorer=feature_scorer, escalate_threshold=0.0)
    result = asyncio.run(policy.arun(PROMPT, acall, text_of, tool_calls_of))
    assert result.metadata["calls"] == ["weak", "strong"] and result.answer["model"] == "strong-model"


def test_escalate_fraction_is_calibrated_on_answers(feature_scorer, graded_answers):
    rows = [r for r in graded_answers if r.source == "arena_hard"][:200]
    pairs = [(r.prompt, r.answer) for r in rows]
    policy = CascadePolicy(scorer=feature_scorer, escalate_fraction=0.3, calibration_pairs=pairs)
    checks = policy.check([p for p, _ in pairs], [a for _, a in pairs])
    assert sum(c.escalate for c in checks) == pytest.approx(60, abs=2)
    assert escalation_share(0.5, 0.2) == pytest.approx(0.375) and escalation_share(0.1, 0.2) == 0.0


def test_bad_settings_name_the_problem(feature_scorer):
    with pytest.raises(InvalidInputError, match="either escalate_threshold or escalate_fraction"):
        CascadePolicy(scorer=feature_scorer, escalate_threshold=0.5, escalate_fraction=0.5, calibration_pairs=[("a", "b")])
    with pytest.raises(InvalidInputError, match="calibration_pairs"):
        CascadePolicy(scorer=feature_scorer, escalate_fraction=0.5)
    with pytest.raises(InvalidInputError):
        CascadePolicy(scorer=feature_scorer, escalate_threshold=1.5)
    with pytest.raises(InvalidInputError, match="1 prompts, 2 answers"):
        CascadePolicy(scorer=feature_scorer, escalate_threshold=0.5).check(["a"], ["b", "c"])
