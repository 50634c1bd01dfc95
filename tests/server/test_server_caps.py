"""Spend caps per client key and window, shared by two replicas through a real redis-server, and its loss."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from server_helpers import PROMPT, scrape

pytestmark = pytest.mark.timeout(240)
STRONG = {"model": "always-strong", "messages": [{"role": "user", "content": PROMPT}]}


def _wait_for_a_fresh_minute(margin: float = 25.0) -> None:
    """Caps count per epoch-aligned minute: start far enough from the next boundary."""
    if time.time() % 60 > 60 - margin:
        time.sleep(60 - time.time() % 60 + 0.2)


def _post(server, key="k1", body=STRONG) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=30,
                      headers={"authorization": f"Bearer {key}"})


def _metric(server, name) -> float:
    return sum(v for (n, _), v in scrape(server).items() if n == name)


def test_two_replicas_share_a_cap_of_100_strong_calls_counted_once(make_server, redis_server, openai_pair):
    _, url = redis_server
    caps = {"window_seconds": 60, "strong_calls": 100, "over": "weak", "redis_url": url}
    replicas = [make_server(caps=caps, api_keys=["k1", "k2"]) for _ in range(2)]
    strong_upstream, _ = openai_pair
    _wait_for_a_fresh_minute()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: _post(replicas[i % 2]), range(1000)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200][:1]
    states = [r.headers["x-routellm-cap"] for r in responses]
    assert states.count("ok") == 100 and states.count("weak") == 900
    assert sum(r.json()["routellm"]["role"] == "strong" for r in responses) == 100
    assert len(strong_upstream.requests) == 100  # each passed strong call reached the strong model once
    assert sorted(int(r.headers["x-routellm-cap-remaining"]) for r in responses if r.headers["x-routellm-cap"] == "ok") \
        == list(range(100))
    other = _post(replicas[0], key="k2")  # another key has its own count
    assert other.headers["x-routellm-cap"] == "ok" and other.json()["routellm"]["role"] == "strong"
    assert sum(_metric(s, "routellm_caps_strong_calls_total") for s in replicas) == 1001


def test_losing_redis_mid_run_falls_back_to_local_counters(make_server, redis_server):
    proc, url = redis_server
    caps = {"window_seconds": 60, "strong_calls": 30, "over": "weak", "redis_url": url, "redis_timeout": 0.3,
            "redis_retry_seconds": 60}
    replicas = [make_server(caps=caps) for _ in range(2)]
    _wait_for_a_fresh_minute()
    first = [_post(replicas[i % 2]) for i in range(20)]
    assert [r.headers["x-routellm-cap"] for r in first] == ["ok"] * 20
    assert all(_metric(s, "routellm_caps_redis_up") == 1 for s in replicas)
    proc.kill()
    proc.wait(5)
    rest = [_post(replicas[i % 2]) for i in range(100)]
    assert all(r.status_code == 200 for r in rest), [r.text for r in rest if r.status_code != 200][:1]
    for server in replicas:
        assert _metric(server, "routellm_caps_redis_fallbacks_total") == 1
        assert _metric(server, "routellm_caps_redis_up") == 0
    # From the loss on, each replica counts alone, from zero: 30 more strong calls each at most.
    assert sum(r.headers["x-routellm-cap"] == "ok" for r in rest) == 60


def test_over_cap_can_answer_429_and_dollar_caps(make_server):
    server = make_server(caps={"strong_calls": 2, "over": "429", "window_seconds": 3600})
    codes = [_post(server).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    last = _post(server)
    assert last.headers["x-routellm-cap"] == "429" and int(last.headers["retry-after"]) > 0
    assert last.json()["error"]["code"] == "spend_cap"
    weak = _post(server, body={**STRONG, "model": "always-weak"})  # weak calls never count
    assert weak.status_code == 200 and "x-routellm-cap" not in weak.headers
    dollars = make_server(caps={"dollars": 0.05, "strong_call_usd": 0.02, "window_seconds": 3600})
    assert [_post(dollars).headers["x-routellm-cap"] for _ in range(3)] == ["ok", "ok", "weak"]


@pytest.mark.parametrize("caps, words", [({}, "either strong_calls or dollars"),
                                         ({"dollars": 1.0}, "strong_call_usd"),
                                         ({"strong_calls": -1}, "greater than or equal"),
                                         ({"strong_calls": 5, "over": "drop"}, "over")])
def test_bad_caps_configs_are_clear_errors(server_config, caps, words):
    from routellm_core.server.config import build_config
    from routellm_core.server.errors import ConfigError

    with pytest.raises((ConfigError, ValueError), match=words):
        build_config({**server_config, "caps": caps})
