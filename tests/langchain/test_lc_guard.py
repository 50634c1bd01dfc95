"""LangChain front-ends: the online threshold on a drifting stream, bad input, the reroute guard."""

from __future__ import annotations

import math

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from langchain_routellm import ChatRouteLLM, RouteLLMRunnable
from routellm_core.online import window_strong_counts


def _pair():
    return FakeListChatModel(responses=["strong answer"]), FakeListChatModel(responses=["weak answer"])


def _bounds(stream):
    f, n = stream["fraction"], stream["window"]
    return math.ceil(round((f - 0.05) * n, 9)), math.floor(round((f + 0.05) * n, 9))


@pytest.mark.parametrize("front_end", ["chat", "runnable"])
def test_online_threshold_keeps_every_window_on_a_drifting_stream(word_count_router, drift_stream, front_end):
    strong, weak = _pair()
    settings = dict(router=word_count_router, strong_fraction=drift_stream["fraction"],
                    calibration_prompts=drift_stream["calibration"], online_window=drift_stream["window"])
    if front_end == "chat":
        llm = ChatRouteLLM(strong=strong, weak=weak, **settings)
        metas = [llm.invoke(p).response_metadata["routellm"] for p in drift_stream["prompts"]]
        answers = None
    else:
        runnable = RouteLLMRunnable(strong=strong, weak=weak, **settings)
        answers = [runnable.invoke(p).content for p in drift_stream["prompts"]]
        metas = [{"role": "strong" if a == "strong answer" else "weak"} for a in answers]
    strong_flags = [m["role"] == "strong" for m in metas]
    low, high = _bounds(drift_stream)
    counts = window_strong_counts(strong_flags, drift_stream["window"])
    assert all(low <= c <= high for c in counts), (min(counts), max(counts))
    if answers is None:
        assert all("online_forced" in m and "online_share" in m for m in metas)
        # the long part of the stream is not all strong (a fixed threshold would send all of it)
        assert sum(strong_flags[60:120]) < 50


def test_two_chat_models_share_one_online_window_through_redis(word_count_router, drift_stream, redis_server):
    _, url = redis_server
    settings = dict(router=word_count_router, strong_fraction=drift_stream["fraction"],
                    calibration_prompts=drift_stream["calibration"], online_window=drift_stream["window"],
                    online_state={"url": url, "key": "test:lc-shared"})
    replicas = [ChatRouteLLM(strong=_pair()[0], weak=_pair()[1], **settings) for _ in range(2)]
    metas = [replicas[i % 2].invoke(p).response_metadata["routellm"] for i, p in enumerate(drift_stream["prompts"])]
    low, high = _bounds(drift_stream)
    counts = window_strong_counts([m["role"] == "strong" for m in metas], drift_stream["window"])
    assert all(low <= c <= high for c in counts), (min(counts), max(counts))
    # one window: each model's policy has counted the decisions of both
    assert [r.policy.strategy.stats()["decisions"] for r in replicas] == [len(metas)] * 2


HUGE = "Explain the history of the Roman empire in detail. " * 20_000  # ~1,000,000 characters


def _llm(router, **kw):
    strong, weak = _pair()
    return ChatRouteLLM(strong=strong, weak=weak, router=router, **kw)


def test_huge_prompts_and_many_messages_are_capped(word_count_router):
    from langchain_core.messages import AIMessage, HumanMessage

    from routellm_core.inputs import MAX_ROUTED_CHARS

    meta = _llm(word_count_router, threshold=0.5).invoke(HUGE).response_metadata["routellm"]
    assert meta["truncated"] == len(HUGE) and meta["role"] == "strong"
    assert len(word_count_router.calls[-1][0]) == MAX_ROUTED_CHARS
    messages = [HumanMessage(f"question {i}") if i % 2 == 0 else AIMessage(f"answer {i}") for i in range(10_000)]
    meta = _llm(word_count_router, threshold=0.5, route_on="conversation").invoke(messages).response_metadata["routellm"]
    assert meta["truncated"] is not None and meta["role"] in ("strong", "weak")


@pytest.mark.parametrize("text", ["hi \ud800 there", "nul \x00 and esc \x1b[0m"])
def test_unencodable_text_is_cleaned(small_router, text):
    meta = _llm(small_router, threshold=0.5).invoke(text).response_metadata["routellm"]
    assert 0.0 <= meta["probability"] <= 1.0


@pytest.mark.parametrize("settings", [{"threshold": math.nan}, {"threshold": "0.5"}, {"threshold": "abc"},
                                      {"strong_fraction": math.nan, "calibration_prompts": ["a", "b"]}])
def test_bad_thresholds_are_one_error(word_count_router, settings):
    with pytest.raises(ValueError, match="threshold|strong_fraction|valid number"):
        _llm(word_count_router, **settings).invoke("hi")


@pytest.mark.parametrize("prices, budget, words", [
    ({"a": (-1.0, 1.0), "b": (0.1, 0.1)}, None, "finite numbers >= 0"),
    ({"a": (math.nan, 1.0), "b": (0.1, 0.1)}, None, "finite numbers >= 0"),
    ({"a": (10.0, 30.0), "b": (8.0, 24.0)}, 0, "below what routing can spend"),
])
def test_bad_prices_and_a_zero_budget_are_one_error(small_router, prices, budget, words):
    models = {name: FakeListChatModel(responses=[name]) for name in prices}
    settings = {"threshold": 0.5} if budget is None else {"budget_per_1k": budget, "calibration_prompts": ["a b", "c"]}
    with pytest.raises(ValueError, match=words):
        ChatRouteLLM(models=models, prices=prices, router=small_router,
                     router_models={"a": "gpt-4-1106-preview", "b": "claude-2"}, **settings).invoke("hi")


def test_reroute_guard_on_generated_prefixes(small_router, reroute_attack, reroute_gadget):
    gadget, _, held_out = reroute_gadget
    attacked = [reroute_attack.apply(gadget, p, "prefix") for p in held_out[:12]]
    guarded_llm, plain_llm = _llm(small_router, threshold=0.5, reroute_guard=True), _llm(small_router, threshold=0.5)
    guarded = [guarded_llm.invoke(t).response_metadata["routellm"] for t in attacked]
    plain = [plain_llm.invoke(t).response_metadata["routellm"] for t in attacked]
    assert any(m["guard_flag"] for m in guarded)
    assert all(g["probability"] <= p["probability"] + 1e-9 for g, p in zip(guarded, plain, strict=True))
    assert sum(m["role"] == "strong" for m in guarded) <= sum(m["role"] == "strong" for m in plain)


def test_batch_calls_note_the_cap_too(word_count_router):
    llm = _llm(word_count_router, threshold=0.5)
    metas = [m.response_metadata["routellm"] for m in llm.batch([HUGE, "a short question"])]
    assert metas[0]["truncated"] == len(HUGE) and metas[1]["truncated"] is None
    runnable = RouteLLMRunnable(strong=_pair()[0], weak=_pair()[1], router=word_count_router, threshold=0.5)
    assert [a.content for a in runnable.batch([HUGE, "hi"])] == ["strong answer", "weak answer"]
