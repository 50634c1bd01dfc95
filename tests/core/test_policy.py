"""RoutingPolicy: the one decision layer (real routers: random and the small trained MF)."""

from __future__ import annotations

import asyncio
import math
import threading

import numpy as np
import pytest

from routellm_core import METADATA_FIELDS, InvalidInputError, Router, RouteLLMError, RoutingPolicy, Turn
from routellm_core.policy import ModelNameError, decide_many, parse_model_name, turns_text

PROMPTS = ["What is 2 + 2?", "Write a sonnet about the sea.", "Prove that there are infinitely many primes.",
           "How do I reverse a list in Python?", "Translate 'good morning' into French.", "Name three colors."]


class Recording(Router):
    """A real router (fixed scores by text length) that records each scoring call and its thread."""

    name = "recording"
    trainable = False

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.threads: list[int] = []
        self.delay = delay

    def _predict(self, prompts):
        import time

        self.calls.append(list(prompts))
        self.threads.append(threading.get_ident())
        time.sleep(self.delay)
        return np.array([min(1.0, len(p) / 50) for p in prompts])


def test_decide_is_strong_iff_probability_reaches_threshold(small_router):
    probs = small_router.predict_proba(PROMPTS)
    threshold = float(np.median(probs))
    decisions = RoutingPolicy(small_router, threshold=threshold).decide(PROMPTS)
    assert [d.role for d in decisions] == ["strong" if p >= threshold else "weak" for p in probs]
    assert [d.probability for d in decisions] == pytest.approx(list(probs))
    assert all(d.threshold == threshold and d.router == "mf" for d in decisions)
    # the Router API still gives the same decisions
    assert small_router.route_batch(PROMPTS, threshold) == decisions


def test_decide_batches_into_one_router_call():
    router = Recording()
    RoutingPolicy(router, threshold=0.5).decide(PROMPTS)
    assert router.calls == [PROMPTS]


def test_strong_fraction_is_calibrated_once():
    router = Recording()
    policy = RoutingPolicy(router, strong_fraction=0.5, calibration_prompts=PROMPTS)
    roles = [d.role for d in policy.decide(PROMPTS)]
    assert roles.count("strong") == 3
    RoutingPolicy(router, strong_fraction=0.5, calibration_prompts=PROMPTS).decide(PROMPTS[:1])
    assert router.calls[0] == PROMPTS and len(router.calls) == 3  # calibration scored once for both policies


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"threshold": 0.2, "strong_fraction": 0.5, "calibration_prompts": PROMPTS}, "not both"),
    ({}, "threshold=... or strong_fraction"),
    ({"strong_fraction": 0.5}, "calibration_prompts"),
    ({"threshold": 1.5}, r"threshold must be in \[0, 1\]"),
    ({"strong_fraction": 2, "calibration_prompts": PROMPTS}, r"strong_fraction must be in \[0, 1\]"),
    ({"threshold": 0.5, "route_on": "question"}, "route_on must be"),
    ({"threshold": 0.5, "on_empty": "maybe"}, "on_empty must be"),
    ({"threshold": 0.5, "router": " "}, "router is empty"),
])
def test_bad_settings_name_the_problem(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        RoutingPolicy(**{"router": "random", **kwargs})


def test_unknown_router_fails_on_resolve():
    with pytest.raises(RouteLLMError, match="unknown router 'nope'"):
        RoutingPolicy("nope", threshold=0.5).resolve()


def test_empty_text_rule():
    router = Recording()
    with pytest.raises(InvalidInputError, match="routed text is empty"):
        RoutingPolicy(router, threshold=0.5).decide(["ok", "   "])
    assert router.calls == []
    decisions = RoutingPolicy(router, threshold=0.5, on_empty="weak").decide(["   ", "a long enough question here?"])
    assert decisions[0].role == "weak" and math.isnan(decisions[0].probability)
    assert router.calls == [["a long enough question here?"]]  # the empty text is never scored
    meta = RoutingPolicy.metadata(decisions[0], model="weak-model")
    assert meta["probability"] is None and meta["role"] == "weak"


def test_overrides_replace_the_mode():
    policy = RoutingPolicy("random", threshold=0.5)
    assert policy.with_overrides() is policy
    assert policy.with_overrides(threshold=0.0).decide(PROMPTS[:1])[0].role == "strong"
    with pytest.raises(InvalidInputError, match="calibration_prompts"):
        policy.with_overrides(strong_fraction=1.0)
    calibrated = RoutingPolicy("random", threshold=0.5, calibration_prompts=PROMPTS)
    assert {d.role for d in calibrated.with_overrides(strong_fraction=1.0).decide(PROMPTS)} == {"strong"}
    with pytest.raises(InvalidInputError, match="not both"):
        policy.overrides_from({"routellm_threshold": 0.1, "routellm_strong_fraction": 0.2})
    assert policy.overrides_from({"routellm_router": "random"}).router == "random"


def test_route_on_rules():
    turns = [Turn("system", "Be terse."), Turn("user", "Write a sonnet."), Turn("assistant", "Waves..."),
             Turn("user", "   "), Turn("tool", "42")]
    assert turns_text(turns) == "Write a sonnet."  # the last user message that has text
    assert turns_text(turns, "last_human") == "Write a sonnet."  # alias
    assert turns_text(turns, "conversation") == "system: Be terse.\nuser: Write a sonnet.\nassistant: Waves...\ntool: 42"
    assert turns_text([Turn("system", "Only a system prompt")]) == ""
    policy = RoutingPolicy("random", threshold=0.5, route_on=lambda msgs: msgs[0])
    assert policy.routed_text(turns, raw=["raw first", "second"]) == "raw first"
    assert RoutingPolicy("random", threshold=0.5, route_on="last_human").route_on == "last_user"


def test_attempts_and_metadata(small_router):
    policy = RoutingPolicy(small_router, threshold=0.0)
    decision = policy.decide([PROMPTS[0]])[0]
    assert [(a.role, a.fallback) for a in policy.attempts(decision)] == [("strong", False), ("weak", True)]
    no_fallback = RoutingPolicy(small_router, threshold=0.0, fallback=False)
    assert [a.role for a in no_fallback.attempts(decision)] == ["strong"]
    meta = policy.metadata(decision, "weak", "weak-model", RuntimeError("boom"))
    assert tuple(meta) == METADATA_FIELDS
    assert meta["fallback"] is True and meta["routed_role"] == "strong" and meta["fallback_error"] == "RuntimeError: boom"
    plain = policy.metadata(decision, model="strong-model")
    assert plain["fallback"] is False and plain["fallback_error"] is None and plain["role"] == "strong"


def test_decide_many_reports_bad_items_and_groups_by_router():
    router = Recording()
    base = RoutingPolicy(router, threshold=0.5)
    out = decide_many([(base, "a question"), (base, "  "), (base.with_overrides(threshold=0.0), "another question"),
                       (RoutingPolicy("nope", threshold=0.5), "x")])
    assert router.calls == [["a question", "another question"]]
    assert out[0].role == "weak" and out[2].role == "strong"
    assert isinstance(out[1], InvalidInputError) and isinstance(out[3], RouteLLMError)


async def test_adecide_batches_concurrent_calls_off_the_loop():
    router = Recording(delay=0.2)
    policy = RoutingPolicy(router, threshold=0.5)
    results = await asyncio.gather(*(policy.adecide([p]) for p in PROMPTS))
    assert [r[0].probability for r in results] == [min(1.0, len(p) / 50) for p in PROMPTS]
    assert sum(len(c) for c in router.calls) == len(PROMPTS) and len(router.calls) < len(PROMPTS)
    assert threading.get_ident() not in router.threads


async def test_adecide_keeps_the_loop_running():
    policy = RoutingPolicy(Recording(delay=0.5), threshold=0.5)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    await policy.adecide(PROMPTS[:2])
    task.cancel()
    assert ticks >= 10


def test_thread_safe_decisions(small_router):
    policy = RoutingPolicy(small_router, threshold=0.5)
    expected = [d.probability for d in policy.decide(PROMPTS)]
    seen: list[list[float]] = []

    def work():
        seen.append([d.probability for d in policy.decide(PROMPTS)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s == pytest.approx(expected) for s in seen) and len(seen) == 4


@pytest.mark.parametrize(("model", "expected"), [
    ("router-mf-0.5", ("mf", 0.5)), ("router-mf-v2-0.25", ("mf-v2", 0.25)), ("cheap", ("mf", 0.9)),
])
def test_parse_model_name(model, expected):
    assert parse_model_name(model, ["mf", "mf-v2"], {"cheap": ("mf", 0.9)}) == expected


@pytest.mark.parametrize(("model", "words", "code"), [
    ("gpt-4", "unknown model", "model_not_found"), ("router-bert-0.5", "unknown router 'bert'", "model_not_found"),
    ("router-mf", "lacks a threshold", None), ("router-mf-nan", "threshold 'nan'", None),
    ("router-mf-2", "threshold '2'", None), ("", "non-empty", None),
])
def test_parse_model_name_errors(model, words, code):
    with pytest.raises(ModelNameError, match=words) as info:
        parse_model_name(model, ["mf"])
    assert info.value.code == code
