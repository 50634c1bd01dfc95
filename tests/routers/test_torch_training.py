"""Thread choice for torch: other processes' load counts, this process's own work does not."""

from __future__ import annotations

import os
import threading
import time

import pytest

from routellm_core.errors import InvalidInputError
from routellm_core.routers import torch_runtime
from routellm_core.routers import torch_training as tt


def test_own_work_is_not_counted_as_busy_cores(monkeypatch):
    # Two /proc readings 100 jiffies apart on a 2-core machine: 20 idle, 60 spent by this process.
    readings = iter([(1000, 500, 300), (1100, 520, 360)])
    monkeypatch.setattr(torch_runtime, "_cpu_jiffies", lambda: next(readings))
    monkeypatch.setattr(torch_runtime.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch_runtime.time, "sleep", lambda _s: None)
    # Busy 80 of 100, of which 60 are ours: 20/100 of the machine, 0.4 cores, is someone else's.
    assert tt.busy_cores_elsewhere(0.3) == pytest.approx(0.4)


def test_own_cpu_time_is_read_from_proc():
    """The jiffies counted as 'ours' follow this process's CPU time (a sibling test worker cannot break it)."""
    first = torch_runtime._cpu_jiffies()
    if first is None:
        pytest.skip("no /proc on this system")
    cpu0 = time.process_time()
    stop = time.monotonic() + 0.6

    def spin():
        while time.monotonic() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    worker.join()
    second = torch_runtime._cpu_jiffies()
    assert second is not None
    own_seconds = (second[2] - first[2]) / os.sysconf("SC_CLK_TCK")
    spent = time.process_time() - cpu0
    assert spent > 0.05
    assert abs(own_seconds - spent) < 0.05 + 0.2 * spent


def test_thread_override_and_bad_value(monkeypatch):
    monkeypatch.setenv("ROUTELLM_TORCH_THREADS", "3")
    assert tt.sensible_threads() == 3
    monkeypatch.setenv("ROUTELLM_TORCH_THREADS", "many")
    with pytest.raises(InvalidInputError, match="ROUTELLM_TORCH_THREADS"):
        tt.sensible_threads()
