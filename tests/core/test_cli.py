"""The routellm-core CLI: real subprocesses, JSON output, one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "routellm_core.cli"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_route_prints_json_decision(small_router_path):
    out = run("route", "--router", str(small_router_path), "--threshold", "0", "--prompt", "Write a poem")
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    assert decision["role"] == "strong" and decision["router"] == "mf" and 0 <= decision["probability"] <= 1


def test_calibrate_hits_the_fraction(small_router_path, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(f"Question number {i}: explain topic {i * 7}" for i in range(40)), encoding="utf-8")
    out = run("calibrate", "--router", str(small_router_path), "--prompts-file", str(prompts), "--strong-fraction", "0.25")
    assert out.returncode == 0, out.stderr
    threshold = json.loads(out.stdout)["threshold"]
    routed = run("route", "--router", str(small_router_path), "--threshold", str(threshold), "--prompts-file", str(prompts))
    roles = [json.loads(line)["role"] for line in routed.stdout.splitlines()]
    assert roles.count("strong") == 10


def test_train_writes_a_checkpoint(tmp_path, data_dir):
    out = run("train", "--router", "sw_ranking", "--dataset", "gsm8k", "--limit", "200", "--no-decontaminate",
              "--output", str(tmp_path / "sw"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["records"] == 200
    assert (tmp_path / "sw" / "config.json").is_file() and (tmp_path / "sw" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["route", "--router", "random", "--prompt", "  "], "prompt is empty"),
        (["route", "--router", "random", "--prompt", "hi", "--threshold", "1.5"], "threshold must be in [0, 1]"),
        (["route", "--router", "random", "--prompt", "hi", "--threshold", "abc"], "threshold must be a number"),
        (["route", "--router", "nope", "--prompt", "hi"], "unknown router 'nope'"),
        (["route", "--router", "/no/such/checkpoint", "--prompt", "hi"], "checkpoint not found"),
        (["route", "--router", "random"], "no prompt given"),
        (["calibrate", "--router", "random", "--prompt", "x", "--strong-fraction", "2"], "strong_fraction must be in"),
        (["train", "--dataset", "/no/such.csv"], "data file missing"),
        (["--data-dir", "/no/such/dir", "info"], "data directory not found"),
    ],
)
def test_user_errors_exit_2_with_one_line(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_corrupt_checkpoint_and_missing_column(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text('{"router": "mf"', encoding="utf-8")
    out = run("route", "--router", str(ckpt), "--prompt", "hi")
    assert out.returncode == 2 and "config.json is corrupt" in out.stderr
    csv = tmp_path / "arena.csv"
    csv.write_text("model_a,model_b,winner_model_a\nx,y,1\n", encoding="utf-8")
    out = run("train", "--dataset", str(csv), "--no-decontaminate")
    assert out.returncode == 2 and "missing column" in out.stderr and "Traceback" not in out.stderr


def test_download_fails_cleanly_offline(tmp_path):
    out = run("download", "--dest", str(tmp_path))
    assert out.returncode == 2
    assert "cannot download" in out.stderr and len(out.stderr.strip().splitlines()) == 1
