"""Thread choice for torch: other processes' load counts, this process's own work does not."""

from __future__ import annotations

import threading
import time

import pytest

from routellm_core.errors import InvalidInputError
from routellm_core.routers import torch_training as tt


def test_own_work_is_not_counted_as_busy_cores():
    baseline = tt.busy_cores_elsewhere(0.3)
    stop = time.monotonic() + 0.8

    def spin():
        while time.monotonic() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        with_own_work = tt.busy_cores_elsewhere(0.3)
    finally:
        worker.join()
    # Counting our own spinning thread would add a whole core.
    assert with_own_work < baseline + 0.5


def test_thread_override_and_bad_value(monkeypatch):
    monkeypatch.setenv("ROUTELLM_TORCH_THREADS", "3")
    assert tt.sensible_threads() == 3
    monkeypatch.setenv("ROUTELLM_TORCH_THREADS", "many")
    with pytest.raises(InvalidInputError, match="ROUTELLM_TORCH_THREADS"):
        tt.sensible_threads()
