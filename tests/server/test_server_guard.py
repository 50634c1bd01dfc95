"""The server: the online threshold on a drifting stream, bad input, the reroute guard and its metric."""

from __future__ import annotations

import math

import httpx
import pytest

from routellm_core import register_router
from routellm_core.online import window_strong_counts
from server_helpers import WordCountRouter

pytestmark = pytest.mark.timeout(120)


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


HUGE = "Explain the history of the Roman empire in detail. " * 19_000  # ~970,000 characters: under max_body_bytes


@pytest.fixture
def words_server(make_server):
    register_router("words_test", WordCountRouter)
    return make_server(routers={"words": "words_test"}, aliases={}, warmup=False)


def test_huge_prompt_and_many_messages_are_capped_not_500(words_server):
    response = _post(words_server, "router-words-0.5", HUGE)
    assert response.status_code == 200, response.text
    assert response.json()["routellm"]["truncated"] == len(HUGE)
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(10_000)]
    response = httpx.post(f"{words_server.base_url}/chat/completions", timeout=60,
                          json={"model": "router-words-0.5", "messages": messages})
    assert response.status_code == 200, response.text
    too_big = _post(words_server, "router-words-0.5", HUGE * 2)
    assert too_big.status_code == 413 and too_big.json()["error"]["message"]


def _raw(server, content: bytes) -> httpx.Response:
    body = b'{"model": "router-words-0.5", "messages": [{"role": "user", "content": "' + content + b'"}]}'
    return httpx.post(f"{server.base_url}/chat/completions", content=body, timeout=30,
                      headers={"content-type": "application/json"})


def test_control_characters_are_routed_and_bad_unicode_is_400(words_server):
    response = _raw(words_server, b"nul \\u0000 esc \\u001b[0m del \x7f")
    assert response.status_code == 200, response.text
    for bad, words in ((b"hi \\ud800 there", "lone surrogate"), (b"tail \\udfff", "lone surrogate"),
                       (b"bytes \xff\xfe here", "not valid JSON")):
        error = _raw(words_server, bad)
        assert error.status_code == 400 and words in error.json()["error"]["message"], error.text
    pair = _raw(words_server, b"emoji \\ud83d\\ude00 ok")  # a surrogate pair is a real character
    assert pair.status_code == 200, pair.text


@pytest.mark.parametrize("model", ["router-words-nan", "router-words-abc", "router-words--1", "router-words-inf"])
def test_bad_thresholds_in_the_model_name_are_400(words_server, model):
    response = _post(words_server, model, "hello")
    assert response.status_code == 400 and "threshold" in response.json()["error"]["message"]


@pytest.mark.parametrize("price, budget, words", [
    ([-1.0, 1.0], None, "price"), (["nan", 1.0], None, "price"), ([10.0, 30.0], 0, "below what routing can spend")])
def test_bad_prices_and_a_zero_budget_fail_at_startup(server_config, small_router_path, price, budget, words):
    from routellm_core.server import create_app
    from routellm_core.server.config import build_config
    from routellm_core.server.errors import ConfigError

    strong = server_config["strong"]
    multi = {"router": "mf", "calibration_prompts": ["a b", "c"],
             "models": {"gpt-4-1106-preview": {**strong, "price": price}, "claude-2": {**strong, "price": [8.0, 24.0]}}}
    multi.update({"threshold": 0.5} if budget is None else {"budget_per_1k": budget})
    with pytest.raises((ConfigError, ValueError), match=words):
        create_app(build_config({**server_config, "routers": {"mf": str(small_router_path)}, "multi_model": multi}))


def test_reroute_guard_flags_generated_prefixes_and_counts_them(make_server, reroute_attack, reroute_gadget):
    from server_helpers import scrape

    gadget, _, held_out = reroute_gadget
    server = make_server(reroute_guard=True)
    attacked = [reroute_attack.apply(gadget, p, "prefix") for p in held_out[:12]]
    metas = []
    for text in attacked:
        response = _post(server, "router-mf-0.5", text)
        assert response.status_code == 200, response.text
        metas.append(response.json()["routellm"])
    flagged = [m for m in metas if m["guard_flag"]]
    assert flagged and all(m["unguarded_probability"] > m["probability"] for m in flagged)
    counted = sum(v for (name, labels), v in scrape(server).items() if name == "routellm_reroute_flagged_total")
    assert counted == len(flagged)
    plain = make_server()
    raw = [_post(plain, "router-mf-0.5", t).json()["routellm"]["probability"] for t in attacked]
    assert all(m["probability"] <= p + 1e-9 for m, p in zip(metas, raw, strict=True))
