"""The load-test script end to end, small (slow: it starts the server and stubs as subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load_test.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_load_script_runs_clean(tmp_path, small_router_path):
    out = tmp_path / "report.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--requests", "40", "--concurrency", "8",
                             "--router", str(small_router_path), "--json", str(out)],
                            capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["errors"] == 0 and report["streaming"] == 20
    assert report["routed"]["requests"] == report["direct"]["requests"] == 40
    assert report["server"]["routing_decisions"] == 40
    assert sum(report["routed"]["roles"].values()) == 40
    assert report["added_latency_ms"]["p50"] is not None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_load_script_levels_upstream_latency_and_capacity(tmp_path, small_router_path):
    """Two levels with 0.2 s upstreams: one object per level, top-level keys of the highest, a capacity search."""
    out = tmp_path / "report.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--requests", "24", "--concurrency", "2", "8",
                             "--upstream-latency", "0.2", "--stream-speed", "200", "--capacity", "--rates", "5",
                             "--capacity-seconds", "2", "--router", str(small_router_path), "--json", str(out)],
                            capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert set(report["levels"]) == {"2", "8"} and report["concurrency"] == 8
    for level in report["levels"].values():
        assert {"added_p50_ms", "added_p99_ms", "errors", "routing_mean_ms"} <= set(level)
        assert level["errors"] == 0
        assert level["direct"]["latency_ms"]["p50"] >= 200  # the stubs really waited
    assert report["added_p99_ms"] == report["levels"]["8"]["added_p99_ms"]
    steps = report["capacity"]["steps"]
    assert steps[0]["rate_rps"] == 5 and steps[0]["requests"] == 10
    assert report["capacity"]["capacity_rps"] in (None, 5)
