"""Two server replicas share one online-threshold window through a real redis-server; losing it is no error."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest

from routellm_core import register_router
from routellm_core.online import window_strong_counts
from server_helpers import WordCountRouter, scrape

pytestmark = pytest.mark.timeout(180)




def _replicas(make_server, stream, **redis):
    register_router("words_shared_test", WordCountRouter)
    online = {"router-online": {"router": "words", "strong_fraction": stream["fraction"],
                                "online_window": stream["window"], "calibration_prompts": stream["calibration"],
                                **redis}}
    return [make_server(routers={"words": "words_shared_test"}, aliases={}, warmup=False, online=online)
            for _ in range(2)]


def _role(server, text, chat=False):
    """The routed role of one request: a chat completion, or the decision alone (/v1/route, no upstream call)."""
    body = {"model": "router-online", "messages": [{"role": "user", "content": text}]}
    response = httpx.post(f"{server.base_url}/{'chat/completions' if chat else 'route'}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    meta = response.json()["routellm"] if chat else response.json()
    return meta["routed_role"]


def _metric(server, name):
    return sum(v for (n, _), v in scrape(server).items() if n == name)


def _bounds(stream):
    f, n = stream["fraction"], stream["window"]
    return math.ceil(round((f - 0.05) * n, 9)), math.floor(round((f + 0.05) * n, 9))


def test_two_replicas_keep_the_share_of_the_combined_stream(make_server, redis_server, drift_stream):
    _, url = redis_server
    replicas = _replicas(make_server, drift_stream, redis_url=url)
    strong = [_role(replicas[i % 2], p, chat=i % 10 == 0) == "strong" for i, p in enumerate(drift_stream["prompts"])]
    low, high = _bounds(drift_stream)
    counts = window_strong_counts(strong, drift_stream["window"])
    assert all(low <= c <= high for c in counts), (min(counts), max(counts))
    assert abs(np.mean(strong) - drift_stream["fraction"]) <= 0.05
    import redis

    stored = redis.Redis.from_url(url).hgetall(f"routellm:online:router-online:target0.3:n{drift_stream['window']}:counts")
    assert int(stored[b"total"]) == len(strong)  # one window: both replicas' decisions, each counted once
    assert all(_metric(s, "routellm_online_redis_up") == 1 for s in replicas)


def test_losing_redis_mid_stream_falls_back_to_local_windows(make_server, redis_server, drift_stream):
    proc, url = redis_server
    replicas = _replicas(make_server, drift_stream, redis_url=url, redis_timeout=0.3, redis_retry_seconds=60)
    prompts = drift_stream["prompts"]
    for i, p in enumerate(prompts[:30]):
        _role(replicas[i % 2], p)
    proc.kill()
    proc.wait(5)
    roles = [_role(replicas[i % 2], p, chat=i % 10 == 0) for i, p in enumerate(prompts[30:])]  # all answer 200
    assert set(roles) <= {"strong", "weak"}
    for server in replicas:
        assert _metric(server, "routellm_online_redis_fallbacks_total") == 1
        assert _metric(server, "routellm_online_redis_up") == 0


def test_a_bad_redis_url_is_a_config_error(server_config):
    from routellm_core.server.config import build_config
    from routellm_core.server.errors import ConfigError

    online = {"router-online": {"router": "mf", "strong_fraction": 0.3, "calibration_prompts": ["a"],
                                "redis_url": "http://127.0.0.1:6379"}}
    with pytest.raises(ConfigError, match="redis_url"):
        build_config({**server_config, "online": online})
