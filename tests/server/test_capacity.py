"""One server within its machine: the bounded decision queue (503 + Retry-After) and the decision cache."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from server_helpers import PROMPT, scrape

from routellm_core.decision_cache import DecisionCache


def _route(server, prompt: str, model: str = "router-mf-0.5") -> httpx.Response:
    return httpx.post(f"{server.base_url}/route", json={"model": model, "prompt": prompt}, timeout=30)


def test_past_max_queue_clients_get_503_with_retry_after(make_server):
    server = make_server(max_queue=2, routing_timeout=30)
    pool = server.app.state.routers
    router = pool.routers["mf"]
    release = threading.Event()
    real = router.predict_proba

    def blocked(prompts):
        release.wait(20)
        return real(prompts)

    router.predict_proba = blocked  # scoring stalls until the test releases it

    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            body = {"model": "router-mf-0.5", "prompt": PROMPT}
            admitted = [asyncio.create_task(client.post("/route", json={**body, "prompt": f"{PROMPT} {i}"}))
                        for i in range(2)]
            deadline = time.monotonic() + 10
            while pool.queue.depth < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert pool.queue.depth == 2
            start = time.monotonic()
            rejected = [await client.post("/route", json=body) for _ in range(3)]
            assert time.monotonic() - start < 5, "a full queue must answer at once, not wait"
            release.set()
            return list(await asyncio.gather(*admitted)), rejected

    try:
        admitted, rejected = asyncio.run(scenario())
    finally:
        release.set()
        router.predict_proba = real
    assert [r.status_code for r in admitted] == [200, 200]
    for r in rejected:
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "router_queue_full"
        assert int(r.headers["retry-after"]) >= 1
    metrics = scrape(server)
    assert metrics[("routellm_decision_queue_rejected_total", ())] == 3
    assert metrics[("routellm_decision_queue_depth", ())] == 0  # every slot was given back
    assert _route(server, PROMPT).status_code == 200  # and the server serves again


def test_decision_cache_gives_the_same_probabilities_and_counts_hits(make_server):
    plain, cached = make_server(), make_server(decision_cache=2)
    router = cached.app.state.routers.routers["mf"]
    calls: list[list[str]] = []
    real = router.predict_proba
    router.predict_proba = lambda prompts: (calls.append(list(prompts)), real(prompts))[1]
    prompts = [PROMPT, "What is 2 + 2?", PROMPT, "Write a haiku about rain.", PROMPT, "What is 2 + 2?"]
    try:
        with_cache = [_route(cached, p).json()["probability"] for p in prompts]
    finally:
        router.predict_proba = real
    without = [_route(plain, p).json()["probability"] for p in prompts]
    assert with_cache == without  # exactly: a hit is the float the router returned for that text
    # size 2: PROMPT hit, "2 + 2" evicted by the haiku, so it is scored again
    assert [c for batch in calls for c in batch] == [PROMPT, "What is 2 + 2?", "Write a haiku about rain.",
                                                     "What is 2 + 2?"]
    metrics = scrape(cached)
    key = (("router", "mf"),)
    assert metrics[("routellm_decision_cache_hits_total", key)] == 2
    assert metrics[("routellm_decision_cache_misses_total", key)] == 4
    assert metrics[("routellm_decision_cache_hit_rate", key)] == pytest.approx(2 / 6)
    assert ("routellm_decision_cache_hits_total", key) not in scrape(plain)  # off by default


def test_decision_cache_is_a_bounded_lru():
    cache = DecisionCache(2)
    cache.put("a", 0.1)
    cache.put("b", 0.2)
    assert cache.get("a") == 0.1  # a is now the most recent
    cache.put("c", 0.3)
    assert cache.get("b") is None and cache.get("a") == 0.1 and cache.get("c") == 0.3
    assert len(cache) == 2 and (cache.hits, cache.misses) == (3, 1)
    with pytest.raises(ValueError):
        DecisionCache(0)


def test_config_rejects_bad_capacity_settings(server_config):
    from routellm_core.server.config import build_config
    from routellm_core.server.errors import ConfigError

    for bad in ({"max_queue": 0}, {"decision_cache": -1}, {"scoring_workers": 0}):
        with pytest.raises(ConfigError):
            build_config({**server_config, **bad})
    config = build_config(server_config)
    assert (config.decision_cache, config.scoring_workers) == (0, None) and config.max_queue >= 1
