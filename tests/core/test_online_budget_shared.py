"""The online budget's window shared by several policies (replicas) through a real redis-server, and its loss."""

from __future__ import annotations

import pytest

from routellm_core import InvalidInputError, RoutingPolicy
from routellm_core.online_budget import BudgetState
from routellm_core.online_state import LocalStore, RedisStore


def _replicas(router, stream, state, count=2):
    return [RoutingPolicy(router, candidates=stream["prices"], budget_per_1k=stream["budget"],
                          calibration_prompts=stream["calibration"], online_window=stream["window"],
                          online_state=state) for _ in range(count)]


def test_two_replicas_keep_every_window_of_the_combined_stream(small_router, budget_stream, redis_server):
    _, url = redis_server
    budget, prompts = budget_stream["budget"], budget_stream["prompts"]
    replicas = _replicas(small_router, budget_stream, {"url": url, "key": "test:budget"})
    metas = [replicas[i % 2].decide([p])[0].metadata() for i, p in enumerate(prompts)]
    windows = budget_stream["spends"](metas)
    assert max(windows) <= 1.1 * budget + 1e-9, (max(windows), budget)  # the cap over the combined stream
    # one window: each replica sees every decision of both, each counted once
    assert [r.strategy.stats()["decisions"] for r in replicas] == [len(prompts)] * 2
    assert all(isinstance(r.strategy.store, RedisStore) and r.strategy.store.fallbacks == 0 for r in replicas)
    # the shared window decides exactly as one process deciding the whole stream (plain numbers, exact floats)
    alone = _replicas(small_router, budget_stream, None, count=1)[0]
    assert [m["routed_model"] for m in metas] == [alone.decide([p])[0].metadata()["routed_model"] for p in prompts]


def test_the_window_survives_the_round_trip_through_plain_numbers(small_router, budget_stream):
    policy = _replicas(small_router, budget_stream, None, count=1)[0]
    policy.decide(budget_stream["prompts"][:30])
    state = policy.strategy.state
    lists, counts = state.dump()
    assert all(isinstance(v, str) for values in lists.values() for v in values) and "-inf" in lists["rows"][0]
    again = BudgetState(state.window, state.rows.maxlen)
    again.restore(lists, counts)
    assert again.dump() == (lists, counts) and again.spend_recent == state.spend_recent
    assert isinstance(policy.strategy.store, LocalStore) and not policy.strategy.store.shared


@pytest.mark.parametrize("lists, counts", [
    ({"rows": ["-inf,0.5,0.001"]}, {}),  # odd width
    ({"rows": ["-inf,0.5,0.001,0.002", "-inf,0.001,0.002"]}, {}),  # rows of two widths
    ({"rows": ["-inf,0.5,inf,0.002"]}, {}),  # a cost that is not finite
    ({"spends": ["nan"]}, {}),
    ({}, {"forced": "-1"}),
])
def test_a_stored_budget_window_is_checked_when_read_back(lists, counts):
    with pytest.raises(ValueError):
        BudgetState(60, 20).restore(lists, counts)


def test_losing_redis_falls_back_to_the_local_window(small_router, budget_stream, redis_server):
    proc, url = redis_server
    budget, prompts = budget_stream["budget"], budget_stream["prompts"]
    events = []
    state = {"url": url, "key": "test:budget-loss", "timeout": 0.3, "retry_seconds": 60,
             "on_fallback": lambda: events.append("fallback"), "on_up": lambda up: events.append(up)}
    replicas = _replicas(small_router, budget_stream, state)
    for i, p in enumerate(prompts[:40]):
        replicas[i % 2].decide([p])
    proc.kill()
    proc.wait(5)
    after: list[list[dict]] = [[], []]
    for i, p in enumerate(prompts[40:]):
        after[i % 2].append(replicas[i % 2].decide([p])[0].metadata())  # no error: decided locally
    for replica, metas in zip(replicas, after, strict=True):
        store = replica.strategy.store
        assert store.fallbacks == 1 and store.down_since is not None
        # each replica's own window now holds the cap over its own decisions
        windows = budget_stream["spends"](metas)
        assert windows and max(windows) <= 1.1 * budget + 1e-9, (max(windows), budget)
    assert events.count("fallback") == 2 and events.count(False) == 2


def test_bad_online_state_on_the_budget_is_one_error(small_router, budget_stream):
    with pytest.raises(InvalidInputError, match="redis:// URL"):
        _replicas(small_router, budget_stream, "http://127.0.0.1:6379", count=1)
    threshold_store = RoutingPolicy(small_router, strong_fraction=0.3, calibration_prompts=budget_stream["calibration"],
                                    online_window=budget_stream["window"]).strategy.store
    with pytest.raises(InvalidInputError, match="made for another window"):
        _replicas(small_router, budget_stream, threshold_store, count=1)
