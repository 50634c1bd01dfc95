"""Torch runtime for the classifier routers: device, the one torch thread policy, quiet and deterministic runs.

torch is imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger(__name__)


# --- devices and threads ------------------------------------------------------------------------
def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when torch sees a GPU, else CPU; anything else must be a valid, present device."""
    import torch

    spec = str(device).strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError):
        raise InvalidInputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInputError(f"device {device!r} requested but torch sees no CUDA GPU (use device='auto' or 'cpu')")
        # cuBLAS needs this set before its first use to run deterministically.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    elif dev.type != "cpu":
        raise InvalidInputError(f"device {device!r} is not supported (use 'auto', 'cpu' or 'cuda[:N]')")
    return dev


def _cpu_jiffies() -> tuple[int, int, int] | None:
    """(total, idle, this process) CPU jiffies from /proc, or None where /proc is missing."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
        with open("/proc/self/stat", encoding="ascii") as fh:
            own = fh.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    return sum(fields[:8]), fields[3] + fields[4], int(own[11]) + int(own[12])


def busy_cores_elsewhere(window: float = 0.1) -> float:
    """Cores kept busy by *other* processes right now (this process's own work is not counted).

    The 1-minute load average would count our own previous training or scoring too, and then
    the next fit of a cross-validation would halve its threads for nothing.
    """
    first = _cpu_jiffies()
    if first is None:
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0
    time.sleep(window)
    second = _cpu_jiffies()
    if second is None:
        return 0.0
    total = second[0] - first[0]
    if total <= 0:
        return 0.0
    busy = total - (second[1] - first[1]) - (second[2] - first[2])
    return max(0.0, busy / total * (os.cpu_count() or 1))


_threads_decision: tuple[float, int] | None = None


def sensible_threads() -> int:
    """Torch threads for training/scoring: ``$ROUTELLM_TORCH_THREADS``, else the cores not busy elsewhere.

    On a shared machine, more compute threads than idle cores make every step wait on preempted
    threads (measured here: a MiniLM step at 2 threads was 1.3-2x slower than at 1 thread while
    other jobs kept the 2 cores busy). The decision is kept for a minute, so frequent scoring
    calls do not each pay for the 0.1 s measurement.
    """
    global _threads_decision
    env = os.environ.get("ROUTELLM_TORCH_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise InvalidInputError(f"ROUTELLM_TORCH_THREADS must be an integer, got {env!r}") from None
    now = time.monotonic()
    if _threads_decision is not None and now - _threads_decision[0] < 60:
        return _threads_decision[1]
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    n = max(1, min(cores, int(cores - busy_cores_elsewhere() + 0.5)))
    _threads_decision = (now, n)
    return n


def set_threads() -> int:
    """Apply :func:`sensible_threads` to torch (intra-op threads); returns the number used."""
    import torch

    n = sensible_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports (e.g. 'classifier.weight MISSING', expected when adding a head)."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed python/numpy/torch and use deterministic kernels for the duration of a fit."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)
