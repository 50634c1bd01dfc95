"""Bad input in the core and the CLI: one clear error (InvalidInputError, exit 2) or the documented cap."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from routellm_core import InvalidInputError, RoutingPolicy, Turn
from routellm_core.inputs import MAX_ROUTED_CHARS, TAIL_CHARS, clean_text

HUGE = "Explain the history of the Roman empire in detail. " * 20_000  # ~1,000,000 characters


def test_a_million_characters_is_cut_head_and_tail_before_scoring(small_router):
    policy = RoutingPolicy(small_router, threshold=0.5)
    start = time.perf_counter()
    decision = policy.decide([HUGE])[0]
    assert time.perf_counter() - start < 30
    meta = decision.metadata()
    assert meta["truncated"] == len(HUGE) and len(decision.text) == MAX_ROUTED_CHARS
    assert decision.text.endswith(HUGE[-TAIL_CHARS:]) and decision.text.startswith(HUGE[:1000])
    capped = policy.decide([decision.text])[0]
    assert capped.metadata()["truncated"] is None
    assert decision.probability == pytest.approx(capped.probability, abs=1e-6)  # routed on the capped text


def test_ten_thousand_messages(word_count_router):
    turns = [Turn("user" if i % 2 == 0 else "assistant", f"message {i} with some words") for i in range(10_000)]
    for route_on in ("last_user", "conversation"):
        policy = RoutingPolicy(word_count_router, threshold=0.5, route_on=route_on)
        decision = policy.decide([policy.routed_text(turns)])[0]
        assert decision.role in ("strong", "weak")
        assert (decision.metadata()["truncated"] is not None) == (route_on == "conversation")


@pytest.mark.parametrize("text", ["hello \ud800 world", "tail surrogate \udfff", "nul \x00 esc \x1b[31m del \x7f c1 \x85"])
def test_unencodable_text_and_control_characters_are_replaced(small_router, text):
    policy = RoutingPolicy(small_router, threshold=0.5)
    decision = policy.decide([text])[0]
    cleaned, _ = clean_text(text)
    cleaned.encode("utf-8")  # no surrogate left
    assert not any(ord(c) < 32 and c not in "\t\n\r" for c in cleaned)
    assert decision.probability == pytest.approx(policy.decide([cleaned])[0].probability)


def test_bytes_are_an_error(word_count_router):
    with pytest.raises(InvalidInputError, match="bytes, expected str"):
        RoutingPolicy(word_count_router, threshold=0.5).decide([b"\xff\xfe invalid utf-8"])


@pytest.mark.parametrize("settings, words", [
    ({"threshold": math.nan}, "threshold must be in"),
    ({"threshold": "0.5"}, "threshold must be a number"),
    ({"threshold": "abc"}, "threshold must be a number"),
    ({"threshold": True}, "threshold must be a number"),
    ({"strong_fraction": math.nan, "calibration_prompts": ("a", "b")}, "strong_fraction must be in"),
    ({"strong_fraction": "0.3", "calibration_prompts": ("a", "b")}, "strong_fraction must be a number"),
])
def test_bad_thresholds_are_one_error(word_count_router, settings, words):
    with pytest.raises(InvalidInputError, match=words):
        RoutingPolicy(word_count_router, **settings).resolve()


@pytest.mark.parametrize("price, words", [((-1.0, 2.0), "finite numbers >= 0"), ((math.nan, 2.0), "finite numbers >= 0"),
                                          ((1.0, math.inf), "finite numbers >= 0")])
def test_bad_prices_are_one_error(small_router, price, words):
    with pytest.raises(InvalidInputError, match=words):
        RoutingPolicy(small_router, candidates={"gpt-4-1106-preview": price, "claude-2": (0.1, 0.2)},
                      threshold=0.5).resolve()


@pytest.mark.parametrize("budget, words", [(0, "below what routing can spend"), (math.nan, "budget_per_1k must be"),
                                           (-1, "budget_per_1k must be"), ("5", "budget_per_1k must be a number")])
def test_a_budget_of_zero_is_one_error(small_router, budget, words):
    with pytest.raises(InvalidInputError, match=words):
        RoutingPolicy(small_router, candidates={"gpt-4-1106-preview": (10, 30), "claude-2": (8, 24)},
                      budget_per_1k=budget, calibration_prompts=("a b", "c d e")).resolve()


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "routellm_core.cli", *args], capture_output=True, text=True,
                          timeout=300, input=stdin)


@pytest.mark.parametrize("threshold", ["nan", "abc", "-1"])
def test_cli_bad_threshold_exits_2(threshold):
    out = _cli("route", "--router", "random", "--threshold", threshold, "--prompt", "hi")
    assert out.returncode == 2 and "threshold" in out.stderr and "Traceback" not in out.stderr


def test_cli_routes_a_million_characters_and_surrogates(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text(HUGE.replace("\n", " ") + "\n" + "bad \x00 control\n", encoding="utf-8")
    out = _cli("route", "--router", "random", "--threshold", "0.5", "--prompts-file", str(path))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows[0]["truncated"] == len(HUGE) and rows[1]["truncated"] is None


def test_batch_decisions_note_the_cap_too(word_count_router, small_router):
    from routellm_core.policy import decide_many

    pair = RoutingPolicy(word_count_router, threshold=0.5)
    multi = RoutingPolicy(small_router, candidates={"gpt-4-1106-preview": (10, 30), "claude-2": (8, 24)}, threshold=0.5)
    results = decide_many([(pair, HUGE), (pair, "short one"), (multi, HUGE), (multi, "short two")])
    assert [d.metadata()["truncated"] for d in results] == [len(HUGE), None, len(HUGE), None]
    assert len(results[0].text) == MAX_ROUTED_CHARS
