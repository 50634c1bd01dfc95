"""LlamaIndex front-end: the online threshold on a drifting stream, bad input, the reroute guard."""

from __future__ import annotations

import math

from llama_index.core.llms import ChatMessage, MockLLM

from llamaindex_routellm import RouteLLM
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
