"""Two server replicas share one online-budget window (multi_model) through a real redis-server; losing it is no error."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import budget_config, scrape

pytestmark = pytest.mark.timeout(180)


def _replicas(make_server, three, stream, **redis):
    return [make_server(multi_model=budget_config(three, stream, **redis)) for _ in range(2)]


def _meta(server, text, chat=False):
    """The routing metadata of one request: a chat completion, or the decision alone (/v1/route)."""
    body = {"model": "router-multi", "messages": [{"role": "user", "content": text}]}
    response = httpx.post(f"{server.base_url}/{'chat/completions' if chat else 'route'}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["routellm"] if chat else response.json()


def _metric(server, name):
    return sum(v for (n, labels), v in scrape(server).items() if n == name and ("model", "router-multi") in labels)


def test_two_replicas_keep_the_budget_of_the_combined_stream(make_server, three, redis_server, budget_stream):
    _, url = redis_server
    replicas = _replicas(make_server, three, budget_stream, redis_url=url)
    prompts, budget = budget_stream["prompts"][60:160], budget_stream["budget"]  # GSM8K, then Arena-Hard
    metas = [_meta(replicas[i % 2], p, chat=i % 20 == 0) for i, p in enumerate(prompts)]
    windows = budget_stream["spends"](metas)
    assert max(windows) <= 1.1 * budget + 1e-9, (max(windows), budget)  # the cap over both replicas' decisions
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter("routellm:online:router-multi:*:counts"))
    assert len(keys) == 1 and int(client.hget(keys[0], "total")) == len(prompts)  # one window, each decision once
    assert all(_metric(s, "routellm_online_redis_up") == 1 for s in replicas)
    assert all(_metric(s, "routellm_online_redis_fallbacks_total") == 0 for s in replicas)


def test_losing_redis_mid_stream_falls_back_to_local_windows(make_server, three, redis_server, budget_stream):
    proc, url = redis_server
    replicas = _replicas(make_server, three, budget_stream, redis_url=url, redis_timeout=0.3, redis_retry_seconds=60)
    prompts = budget_stream["prompts"][80:140]
    for i, p in enumerate(prompts[:20]):
        _meta(replicas[i % 2], p)
    proc.kill()
    proc.wait(5)
    metas = [_meta(replicas[i % 2], p, chat=i % 10 == 0) for i, p in enumerate(prompts[20:])]  # all answer 200
    assert {m["routed_model"] for m in metas} <= set(budget_stream["prices"])
    for server in replicas:
        assert _metric(server, "routellm_online_redis_fallbacks_total") == 1
        assert _metric(server, "routellm_online_redis_up") == 0


def test_redis_url_on_multi_model_is_checked(server_config, three, budget_stream):
    from routellm_core.server.config import build_config
    from routellm_core.server.errors import ConfigError

    with pytest.raises(ConfigError, match="redis_url"):
        build_config({**server_config, "multi_model": budget_config(three, budget_stream, redis_url="http://x:1")})
    no_window = {**budget_config(three, budget_stream, redis_url="redis://127.0.0.1:1/0"), "online_window": None}
    with pytest.raises(ConfigError, match="give online_window"):
        build_config({**server_config, "multi_model": no_window})
