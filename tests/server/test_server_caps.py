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
    # a generous Redis timeout: on a loaded machine a slow reply must not switch a replica to local counts
    caps = {"window_seconds": 60, "strong_calls": 100, "over": "weak", "redis_url": url, "redis_timeout": 5.0}
    replicas = [make_server(caps=caps, api_keys=["k1", "k2", "k3"]) for _ in range(2)]
    strong_upstream, _ = openai_pair
    for key in ("k1", "k3"):  # a run that straddles a minute boundary is run again once, on a fresh key
        _wait_for_a_fresh_minute(margin=15.0)
        started, reached_before = time.time(), len(strong_upstream.requests)
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda i, key=key: _post(replicas[i % 2], key=key), range(1000)))
        if int(started // 60) == int(time.time() // 60):
            break
    else:
        pytest.fail("two runs of 1,000 requests each straddled a minute boundary")
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200][:1]
    states = [r.headers["x-routellm-cap"] for r in responses]
    fallbacks = [_metric(s, "routellm_caps_redis_fallbacks_total") for s in replicas]
    assert states.count("ok") == 100 and states.count("weak") == 900, (states.count("ok"), fallbacks)
    assert sum(r.json()["routellm"]["role"] == "strong" for r in responses) == 100
    # each passed strong call reached the strong model once
    assert len(strong_upstream.requests) - reached_before == 100
    assert sorted(int(r.headers["x-routellm-cap-remaining"]) for r in responses if r.headers["x-routellm-cap"] == "ok") \
        == list(range(100))
    other = _post(replicas[0], key="k2")  # another key has its own count
    assert other.headers["x-routellm-cap"] == "ok" and other.json()["routellm"]["role"] == "strong"
    assert sum(_metric(s, "routellm_caps_strong_calls_total") for s in replicas) == 1001 + (key == "k3") * 1000


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


@pytest.fixture
def three_priced():
    from routellm_core.testing import OpenAIStubServer

    with (OpenAIStubServer(model="big-model") as big, OpenAIStubServer(model="mini-model") as mini,
          OpenAIStubServer(model="local-model") as local):
        servers = {"gpt-4o": big, "gpt-4o-mini": mini, "local": local}
        stand_in = {"gpt-4o": "gpt-4-1106-preview", "gpt-4o-mini": "gpt-3.5-turbo-1106",
                    "local": "mixtral-8x7b-instruct-v0.1"}
        price = {"gpt-4o": [2.5, 10], "gpt-4o-mini": [0.15, 0.6], "local": 0}
        multi = {"router": "mf", "threshold": 0.0,  # every call to the priciest model
                 "models": {k: {"base_url": s.base_url, "model": s.model, "timeout": 5, "connect_timeout": 1,
                                "price": price[k], "router_model": stand_in[k]} for k, s in servers.items()}}
        yield servers, multi


MULTI = {"model": "router-multi", "messages": [{"role": "user", "content": "Write a haiku about routers."}]}


def test_dollar_caps_apply_to_the_many_model_router(make_server, redis_server, three_priced):
    servers, multi = three_priced
    _, url = redis_server
    replicas = [make_server(multi_model=multi, caps={"dollars": 0.01, "strong_call_usd": 0.02, "window_seconds": 3600,
                                                     "redis_url": url}) for _ in range(2)]
    first = _post(replicas[0], body=MULTI).json()["routellm"]
    cost = next(c["cost_usd"] for c in first["candidates"] if c["model"] == "gpt-4o")
    passes = int(0.01 // cost)  # calls of this estimated cost that fit in $0.01
    assert first["model"] == "gpt-4o" and passes >= 2
    responses = [_post(replicas[i % 2], body=MULTI) for i in range(passes + 3)]
    states = [r.headers.get("x-routellm-cap") for r in responses]
    assert states == ["ok"] * (passes - 1) + ["weak"] * 4  # the first call took one share already
    models = [r.json()["routellm"]["model"] for r in responses]
    assert models == ["gpt-4o"] * (passes - 1) + ["local"] * 4  # past the cap: the cheapest candidate
    assert len(servers["gpt-4o"].requests) == passes and len(servers["local"].requests) == 4
    assert [int(r.headers["x-routellm-cap-remaining"]) for r in responses[:passes - 1]] == \
        list(range(passes - 2, -1, -1))


def test_strong_call_caps_on_the_many_model_router_can_answer_429(make_server, three_priced):
    servers, multi = three_priced
    server = make_server(multi_model=multi, caps={"strong_calls": 2, "over": "429", "window_seconds": 3600})
    codes = [_post(server, body=MULTI).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    last = _post(server, body=MULTI)
    assert last.headers["x-routellm-cap"] == "429" and last.json()["error"]["code"] == "spend_cap"
    cheap = _post(server, body=MULTI | {"model": "router-multi"}, key="k9")
    assert cheap.headers["x-routellm-cap"] == "ok"  # another key has its own count
    assert len(servers["gpt-4o"].requests) == 3 and not servers["local"].requests
