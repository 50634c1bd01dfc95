"""The server: the online threshold on a drifting stream, bad input, the reroute guard and its metric."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest

from routellm_core import register_router
from routellm_core.online import window_strong_counts
from routellm_core.routers.base import Router

pytestmark = pytest.mark.timeout(120)


class WordCountRouter(Router):
    """P(strong wins) = words / 20 (capped at 1)."""

    name = "words"
    trainable = False

    def _predict(self, prompts):
        return np.array([min(1.0, len(p.split()) / 20) for p in prompts])


def _post(server, model, text):
    return httpx.post(f"{server.base_url}/chat/completions", timeout=30,
                      json={"model": model, "messages": [{"role": "user", "content": text}]})


def test_online_model_keeps_every_window_on_a_drifting_stream(make_server, drift_stream):
    register_router("words_test", WordCountRouter)
    server = make_server(routers={"words": "words_test"}, aliases={}, warmup=False,
                         online={"router-online": {"router": "words", "strong_fraction": drift_stream["fraction"],
                                                   "online_window": drift_stream["window"],
                                                   "calibration_prompts": drift_stream["calibration"]}})
    assert "router-online" in [m["id"] for m in httpx.get(f"{server.base_url}/models").json()["data"]]
    metas = []
    for prompt in drift_stream["prompts"]:
        response = _post(server, "router-online", prompt)
        assert response.status_code == 200, response.text
        metas.append(response.json()["routellm"])
    strong = [m["role"] == "strong" for m in metas]
    f, n = drift_stream["fraction"], drift_stream["window"]
    low, high = math.ceil(round((f - 0.05) * n, 9)), math.floor(round((f + 0.05) * n, 9))
    counts = window_strong_counts(strong, n)
    assert all(low <= c <= high for c in counts), (min(counts), max(counts))
    # The fixed model name on the same router drifts: every long prompt goes strong.
    fixed = [_post(server, "router-words-0.3", p).json()["routellm"]["role"] == "strong"
             for p in drift_stream["prompts"][60:80]]
    assert all(fixed)
