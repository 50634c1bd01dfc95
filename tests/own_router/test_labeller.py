"""The labeller end to end against real loopback HTTP servers (strong, weak and judge stubs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import judge_responder, spec, verdict_count

from routellm_core.loaders import load_records_jsonl
from routellm_core.own_router.labeller import Labeller
from routellm_core.own_router.labels_file import errors_path
from routellm_core.own_router.prompts import read_prompts


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_prompts(path: Path, prompts: list[str | dict]) -> Path:
    path.write_text("".join(json.dumps(p if isinstance(p, dict) else {"prompt": p}) + "\n" for p in prompts))
    return path


def make(stubs, **kw) -> Labeller:
    strong, weak, judge = stubs
    kw.setdefault("log", lambda _m: None)
    return Labeller(spec(strong), spec(weak), spec(judge), backoff=0.01, fsync=False, **kw)


def test_both_orders_ties_and_soft_outcomes(stubs, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl", ["a hard proof", "a tie question", "a chat message"])
    out = tmp_path / "labels.jsonl"
    stats = make(stubs).label(read_prompts(prompts), out)
    assert (stats.labelled, stats.errors, stats.skipped) == (3, 0, 0)
    by_prompt = {r["prompt"]: r for r in rows(out)}
    assert by_prompt["a hard proof"]["outcome"] == 1.0 and by_prompt["a hard proof"]["verdicts"] == [1.0, 0.0]
    assert by_prompt["a tie question"]["outcome"] == 0.5
    assert by_prompt["a chat message"]["outcome"] == 0.0
    judge = stubs[2]
    assert verdict_count(judge) == 6  # two orders per prompt
    shown_first = [r["messages"][-1]["content"].split("Assistant A's Answer|>\n")[1][:6] for r in judge.requests]
    assert shown_first.count("STRONG") == 3 and shown_first.count("weak a") == 3
    # the output is what `train` reads
    records = load_records_jsonl(out)
    assert {(r.model_a, r.model_b) for r in records} == {("strong-model", "weak-model")}


def test_position_bias_cancels(stubs, tmp_path):
    stubs[2].responder = judge_responder(bias="first")
    out = tmp_path / "labels.jsonl"
    make(stubs).label(read_prompts(write_prompts(tmp_path / "p.jsonl", ["a hard proof", "a chat message"])), out)
    assert [r["outcome"] for r in rows(out)] == [0.5, 0.5]


def test_reference_answers_are_graded_against(stubs, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl", [{"prompt": "What is 2+2? (a chat message)", "reference": "4"}])
    out = tmp_path / "labels.jsonl"
    make(stubs).label(read_prompts(prompts), out)
    (row,) = rows(out)
    assert row["mode"] == "reference" and row["ratings"] == [9.0, 3.0]
    assert row["outcome"] == 0.5 + 0.5 * 6 / 9  # graded, not the pairwise 'chat' preference for the weak model
    assert all("[The Start of Reference Answer]\n4\n" in r["messages"][-1]["content"] for r in stubs[2].requests)


def test_retries_then_error_row_never_a_crash(stubs, tmp_path):
    strong = stubs[0]
    calls = {"n": 0}

    def flaky(body):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("injected")
        return "STRONG answer"

    strong.responder = flaky
    out = tmp_path / "labels.jsonl"
    prompts = read_prompts(write_prompts(tmp_path / "p.jsonl", ["a hard proof"]))
    stats = make(stubs, retries=3, concurrency=1).label(prompts, out)
    assert stats.labelled == 1 and calls["n"] == 3  # two 500s, then success

    strong.fail_mode = "error"
    out2 = tmp_path / "labels2.jsonl"
    stats = make(stubs, retries=2).label(read_prompts(write_prompts(tmp_path / "q.jsonl", ["x", "y"])), out2)
    assert (stats.labelled, stats.errors) == (0, 2)
    errors = rows(errors_path(out2))
    assert len(errors) == 2 and all("after 3 attempts" in e["error"] for e in errors)
    assert out2.read_text() == ""
    strong.fail_mode = None  # a rerun retries the failed prompts
    stats = make(stubs).label(read_prompts(tmp_path / "q.jsonl"), out2)
    assert stats.labelled == 2


def test_unparseable_verdict_is_retried(stubs, tmp_path):
    judge = stubs[2]
    good = judge_responder()
    seen = {"n": 0}

    def sometimes_rambles(body):
        seen["n"] += 1
        return "I cannot decide." if seen["n"] == 1 else good(body)

    judge.responder = sometimes_rambles
    out = tmp_path / "labels.jsonl"
    stats = make(stubs, concurrency=1).label(read_prompts(write_prompts(tmp_path / "p.jsonl", ["a hard proof"])), out)
    assert stats.labelled == 1 and rows(out)[0]["outcome"] == 1.0 and seen["n"] == 3


def test_max_cost_stops_cleanly_and_a_rerun_continues(stubs, tmp_path):
    from routellm_core.pricing import Price

    labeller = make(stubs, concurrency=2, max_cost=0.5)
    labeller.strong.price = Price(10_000.0, 10_000.0)  # $0.01 per token
    prompts = read_prompts(write_prompts(tmp_path / "p.jsonl", [f"a hard proof number {i}" for i in range(20)]))
    out = tmp_path / "labels.jsonl"
    stats = labeller.label(prompts, out)
    assert stats.stopped == "max_cost" and 0 < stats.labelled < 20 and stats.not_started == 20 - stats.labelled
    per_item = stats.cost_usd / stats.labelled
    assert stats.cost_usd <= 0.5 + 2 * per_item  # at most the in-flight prompts finish past the budget
    assert sum(r["cost_usd"] for r in rows(out)) == stats.cost_usd
    rest = make(stubs).label(prompts, out)
    assert rest.skipped == stats.labelled and rest.labelled == 20 - stats.labelled
    assert len({r["key"] for r in rows(out)}) == 20 == len(rows(out))


KILL_SCRIPT = """
import sys
from routellm_core.own_router.labeller import Labeller
from routellm_core.own_router.prompts import read_prompts
strong, weak, judge, prompts, out = sys.argv[1:]
Labeller(strong, weak, judge, concurrency=4, fsync=False, log=lambda m: None).label(read_prompts(prompts), out)
"""


def test_resume_after_kill_9(stubs, tmp_path):
    strong, weak, judge = stubs
    judge.delay = 0.1  # slow enough to kill mid-run (4 workers: about 40 labels a second)
    n = 120
    prompts = write_prompts(tmp_path / "p.jsonl", [f"a hard proof {i}" if i % 2 else f"a chat message {i}"
                                                   for i in range(n)])
    out = tmp_path / "labels.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, spec(strong), spec(weak), spec(judge), str(prompts),
                             str(out)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 8):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = rows(out)
    assert 8 <= len(before) < n
    with out.open("a") as fh:  # what a kill in the middle of a write would leave: a torn last line
        fh.write('{"key": "torn", "prompt": "a ha')
    judge.delay = 0.0
    logs: list[str] = []
    stats = make(stubs, log=logs.append).label(read_prompts(prompts), out)
    after = rows(out)
    assert "cut a torn last line" in logs[0]
    assert stats.skipped == len(before) and stats.labelled == n - len(before)
    assert len(after) == n and len({r["key"] for r in after}) == n  # nothing lost, nothing twice
    assert after[: len(before)] == before  # append-only: earlier labels untouched
    assert {r["prompt"] for r in after} == {p.prompt for p in read_prompts(prompts)}


def test_label_cli(stubs, tmp_path, capsys):
    from routellm_core.cli import main

    strong, weak, judge = stubs
    prompts = write_prompts(tmp_path / "p.jsonl", [f"a hard proof {i}" for i in range(6)])
    out = tmp_path / "labels.jsonl"
    argv = ["label", "--prompts", str(prompts), "--output", str(out), "--strong", spec(strong), "--weak", spec(weak),
            "--judge", spec(judge), "--price", "strong-model=1000,1000", "--backoff", "0.01"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["labelled"] == 6 and summary["cost_usd"] > 0
    assert all(r["cost_usd"] > 0 and r["outcome"] == 1.0 for r in rows(out))
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["skipped"] == 6  # a rerun does nothing twice


def test_an_unexpected_client_failure_is_an_error_row(stubs, tmp_path):
    class Broken:
        name, price = "broken-model", None

        async def chat(self, messages):
            raise ZeroDivisionError("bug in a custom client")

    strong, _, judge = stubs
    out = tmp_path / "labels.jsonl"
    stats = Labeller(spec(strong), Broken(), spec(judge), fsync=False, log=lambda _m: None).label(
        read_prompts(write_prompts(tmp_path / "p.jsonl", ["a hard proof"])), out)
    assert (stats.labelled, stats.errors) == (0, 1)
    assert "ZeroDivisionError" in rows(errors_path(out))[0]["error"]
