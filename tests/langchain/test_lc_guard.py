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
