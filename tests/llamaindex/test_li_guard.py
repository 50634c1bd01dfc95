"""LlamaIndex front-end: the online threshold on a drifting stream, bad input, the reroute guard."""

from __future__ import annotations

import math

import pytest
from llama_index.core.llms import ChatMessage, MockLLM

from llamaindex_routellm import RouteLLM
from routellm_core import InvalidInputError
from routellm_core.online import window_strong_counts


def _bounds(stream):
    f, n = stream["fraction"], stream["window"]
    return math.ceil(round((f - 0.05) * n, 9)), math.floor(round((f + 0.05) * n, 9))


def test_online_threshold_keeps_every_window_on_a_drifting_stream(word_count_router, drift_stream):
    llm = RouteLLM(strong=MockLLM(), weak=MockLLM(), router=word_count_router,
                   strong_fraction=drift_stream["fraction"], calibration_prompts=drift_stream["calibration"],
                   online_window=drift_stream["window"])
    metas = []
    for i, prompt in enumerate(drift_stream["prompts"]):
        if i % 2:
            response = llm.chat([ChatMessage(role="user", content=prompt)])
            metas.append(response.additional_kwargs["routellm"])
        else:
            metas.append(llm.complete(prompt).additional_kwargs["routellm"])
    strong = [m["role"] == "strong" for m in metas]
    low, high = _bounds(drift_stream)
    counts = window_strong_counts(strong, drift_stream["window"])
    assert all(low <= c <= high for c in counts), (min(counts), max(counts))
    assert all(m["online_forced"] in (None, "strong", "weak") for m in metas)
    assert any(m["online_share"] is not None for m in metas)


def test_two_llms_share_one_online_window_through_redis(word_count_router, drift_stream, redis_server):
    _, url = redis_server
    replicas = [RouteLLM(strong=MockLLM(), weak=MockLLM(), router=word_count_router,
                         strong_fraction=drift_stream["fraction"], calibration_prompts=drift_stream["calibration"],
                         online_window=drift_stream["window"], online_state={"url": url, "key": "test:li-shared"})
                for _ in range(2)]
    metas = [replicas[i % 2].complete(p).additional_kwargs["routellm"] for i, p in enumerate(drift_stream["prompts"])]
    low, high = _bounds(drift_stream)
    counts = window_strong_counts([m["role"] == "strong" for m in metas], drift_stream["window"])
    assert all(low <= c <= high for c in counts), (min(counts), max(counts))
    assert [r.policy.strategy.stats()["decisions"] for r in replicas] == [len(metas)] * 2


HUGE = "Explain the history of the Roman empire in detail. " * 20_000  # ~1,000,000 characters


def test_huge_prompts_and_many_messages_are_capped(word_count_router):
    llm = RouteLLM(strong=MockLLM(), weak=MockLLM(), router=word_count_router, threshold=0.5)
    meta = llm.complete(HUGE).additional_kwargs["routellm"]
    assert meta["truncated"] == len(HUGE) and meta["role"] == "strong"
    conv = RouteLLM(strong=MockLLM(), weak=MockLLM(), router=word_count_router, threshold=0.5, route_on="conversation")
    messages = [ChatMessage(role="user" if i % 2 == 0 else "assistant", content=f"turn {i}") for i in range(10_000)]
    meta = conv.chat(messages).additional_kwargs["routellm"]
    assert meta["truncated"] is not None


@pytest.mark.parametrize("text", ["hi \ud800 there", "nul \x00 and esc \x1b[0m"])
def test_unencodable_text_is_cleaned(small_router, text):
    llm = RouteLLM(strong=MockLLM(), weak=MockLLM(), router=small_router, threshold=0.5)
    assert 0.0 <= llm.complete(text).additional_kwargs["routellm"]["probability"] <= 1.0


@pytest.mark.parametrize("settings, words", [
    ({"threshold": math.nan}, "threshold must be in"), ({"threshold": "0.5"}, "threshold must be a number"),
    ({"threshold": "abc"}, "threshold must be a number"),
    ({"strong_fraction": math.nan, "calibration_prompts": ["a", "b"]}, "strong_fraction must be in"),
])
def test_bad_thresholds_are_one_error(word_count_router, settings, words):
    with pytest.raises(InvalidInputError, match=words):
        RouteLLM(strong=MockLLM(), weak=MockLLM(), router=word_count_router, **settings)


@pytest.mark.parametrize("prices, budget, words", [
    ({"a": (-1.0, 1.0), "b": (0.1, 0.1)}, None, "finite numbers >= 0"),
    ({"a": (math.nan, 1.0), "b": (0.1, 0.1)}, None, "finite numbers >= 0"),
    ({"a": (10.0, 30.0), "b": (8.0, 24.0)}, 0, "below what routing can spend"),
])
def test_bad_prices_and_a_zero_budget_are_one_error(small_router, prices, budget, words):
    settings = {"threshold": 0.5} if budget is None else {"budget_per_1k": budget, "calibration_prompts": ["a b", "c"]}
    with pytest.raises(InvalidInputError, match=words):
        RouteLLM(models={name: MockLLM() for name in prices}, prices=prices, router=small_router,
                 router_models={"a": "gpt-4-1106-preview", "b": "claude-2"}, **settings)


def test_reroute_guard_on_generated_prefixes(small_router, reroute_attack, reroute_gadget):
    gadget, _, held_out = reroute_gadget
    attacked = [reroute_attack.apply(gadget, p, "prefix") for p in held_out[:12]]
    guarded_llm = RouteLLM(strong=MockLLM(), weak=MockLLM(), router=small_router, threshold=0.5, reroute_guard=True)
    plain_llm = RouteLLM(strong=MockLLM(), weak=MockLLM(), router=small_router, threshold=0.5)
    guarded = [guarded_llm.complete(t).additional_kwargs["routellm"] for t in attacked]
    plain = [plain_llm.complete(t).additional_kwargs["routellm"] for t in attacked]
    assert any(m["guard_flag"] for m in guarded)
    assert all(g["probability"] <= p["probability"] + 1e-9 for g, p in zip(guarded, plain, strict=True))
