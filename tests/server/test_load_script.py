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
