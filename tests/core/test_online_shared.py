"""The online threshold's window shared by several policies (replicas) through a real redis-server, and its loss."""

from __future__ import annotations

import math

import pytest

from routellm_core import InvalidInputError, RoutingPolicy
from routellm_core.online import window_strong_counts
from routellm_core.online_state import LocalStore, RedisStore


def _bounds(stream):
    f, n = stream["fraction"], stream["window"]
    return math.ceil(round((f - 0.05) * n, 9)), math.floor(round((f + 0.05) * n, 9))


def _replicas(router, stream, state, count=2):
    return [RoutingPolicy(router, strong_fraction=stream["fraction"], calibration_prompts=stream["calibration"],
                          online_window=stream["window"], online_state=state) for _ in range(count)]


def test_two_replicas_keep_every_window_of_the_combined_stream(word_count_router, drift_stream, redis_server):
    _, url = redis_server
    replicas = _replicas(word_count_router, drift_stream, {"url": url, "key": "test:shared"})
    strong = [replicas[i % 2].decide([p])[0].role == "strong" for i, p in enumerate(drift_stream["prompts"])]
    low, high = _bounds(drift_stream)
    counts = window_strong_counts(strong, drift_stream["window"])
    assert all(low <= c <= high for c in counts), (min(counts), max(counts))
    # one window: each replica sees every decision of both
    assert [r.strategy.stats()["decisions"] for r in replicas] == [len(strong)] * 2
    assert all(isinstance(r.strategy.store, RedisStore) and r.strategy.store.fallbacks == 0 for r in replicas)


def test_replicas_with_their_own_windows_do_not_share(word_count_router, drift_stream):
    replicas = _replicas(word_count_router, drift_stream, None)
    for i, p in enumerate(drift_stream["prompts"]):
        replicas[i % 2].decide([p])
    assert [r.strategy.stats()["decisions"] for r in replicas] == [len(drift_stream["prompts"]) // 2] * 2
    assert isinstance(replicas[0].strategy.store, LocalStore) and not replicas[0].strategy.store.shared


def test_losing_redis_falls_back_to_the_local_window(word_count_router, drift_stream, redis_server):
    proc, url = redis_server
    events = []
    state = {"url": url, "key": "test:loss", "timeout": 0.3, "retry_seconds": 60,
             "on_fallback": lambda: events.append("fallback"), "on_up": lambda up: events.append(up)}
    replicas = _replicas(word_count_router, drift_stream, state)
    prompts = drift_stream["prompts"]
    for i, p in enumerate(prompts[:40]):
        replicas[i % 2].decide([p])
    proc.kill()
    proc.wait(5)
    after = [[], []]
    for i, p in enumerate(prompts[40:]):
        after[i % 2].append(replicas[i % 2].decide([p])[0].role == "strong")  # no error: decided locally
    low, high = _bounds(drift_stream)
    for replica, strong in zip(replicas, after, strict=True):
        store = replica.strategy.store
        assert store.fallbacks == 1 and store.down_since is not None
        # each replica's own window now holds the bound over its own decisions
        counts = window_strong_counts(strong, drift_stream["window"])
        assert counts and all(low <= c <= high for c in counts), (min(counts), max(counts))
    assert events.count("fallback") == 2 and events.count(False) == 2


def test_bad_online_state_is_one_error(word_count_router, drift_stream):
    with pytest.raises(InvalidInputError, match="online_state must be"):
        _replicas(word_count_router, drift_stream, 42, count=1)
    with pytest.raises(InvalidInputError, match="give online_window too"):
        RoutingPolicy(word_count_router, threshold=0.5, online_state="redis://127.0.0.1:1/0")
    with pytest.raises(InvalidInputError, match="redis:// URL"):
        _replicas(word_count_router, drift_stream, "http://127.0.0.1:6379", count=1)


def test_malformed_shared_data_falls_back_to_the_local_window(word_count_router, drift_stream, redis_server, caplog):
    import redis

    _, url = redis_server
    replica = _replicas(word_count_router, drift_stream, {"url": url, "key": "test:garbage", "retry_seconds": 60},
                        count=1)[0]
    key = replica.strategy.store.key
    client = redis.Redis.from_url(url)
    client.rpush(f"{key}:scores", "0.4", "not a number")  # not what a replica writes
    with caplog.at_level("WARNING", logger="routellm_core.online"):
        roles = [replica.decide([p])[0].role for p in drift_stream["prompts"][:30]]  # no error: decided locally
    assert len(roles) == 30 and replica.strategy.store.fallbacks == 1
    assert key in caplog.text and "not a number" in caplog.text
    assert client.lrange(f"{key}:scores", 0, -1) == [b"0.4", b"not a number"]  # left for inspection


@pytest.mark.parametrize("lists, counts, problem", [
    ({"scores": ["nan"]}, {}, "not a finite number"),
    ({"recent": ["2"]}, {}, "neither 0 nor 1"),
    ({}, {"total": "-3"}, "negative"),
    ({}, {"strong_first": "1.5"}, "invalid literal"),
])
def test_a_stored_window_is_checked_when_read_back(lists, counts, problem):
    from routellm_core.online_state import WindowState

    with pytest.raises(ValueError, match=problem):
        WindowState(40, 20).restore(lists, counts)
