"""Shared plumbing for the fine-tuned classifier routers (``bert``, ``causal_llm``), one job per module.

- :mod:`.torch_runtime`: device choice, the one torch thread policy (``ROUTELLM_TORCH_THREADS``, else the
  cores not busy elsewhere), quiet transformers, deterministic runs;
- :mod:`.torch_targets`: preference records -> one soft target per unique prompt;
- :mod:`.torch_loop`: head+tail truncation, length-bucketed batches, the seeded training loop with a
  validation split and early stopping, batched inference, option checks.

This module re-exports them so routers keep writing ``tt.train_loop(...)``. torch is imported inside
functions: importing this module is cheap.
"""

from __future__ import annotations

from .torch_loop import (
                         BatchLoss,
                         TrainConfig,
                         TrainResult,
                         batched_inference,
                         check_fraction,
                         check_positive_float,
                         check_positive_int,
                         head_tail,
                         length_batches,
                         pad_batch,
                         train_loop,
                         validation_split,
)
from .torch_runtime import (
                         busy_cores_elsewhere,
                         deterministic,
                         quiet_transformers,
                         resolve_device,
                         sensible_threads,
                         set_threads,
)
from .torch_targets import PromptTargets, expected_strong_win, prompt_targets, soft_label, subsample

__all__ = [
    "BatchLoss", "TrainConfig", "TrainResult", "batched_inference", "check_fraction", "check_positive_float",
    "check_positive_int", "head_tail", "length_batches", "pad_batch", "train_loop", "validation_split",
    "busy_cores_elsewhere", "deterministic", "quiet_transformers", "resolve_device", "sensible_threads",
    "set_threads", "PromptTargets", "expected_strong_win", "prompt_targets", "soft_label", "subsample",
]
