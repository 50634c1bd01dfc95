"""Tokens, batches and the seeded training loop (validation split, early stopping) of the classifier routers."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger(__name__)


# --- tokens -------------------------------------------------------------------------------------
def head_tail(ids: list[int], budget: int, head: int) -> list[int]:
    """Keep at most ``budget`` tokens: the first ``head`` and the rest from the end.

    Long prompts (RouterBench, MMLU) put few-shot examples first and the real question last, so
    plain head truncation would cut exactly the part that matters.
    """
    if len(ids) <= budget:
        return list(ids)
    head = min(head, budget)
    return list(ids[:head]) + list(ids[len(ids) - (budget - head):])


def pad_batch(seqs: Sequence[list[int]], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask`` for a batch of token id lists."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def length_batches(lengths: Sequence[int] | np.ndarray, batch_size: int, rng: np.random.Generator | None = None,
                   pool: int = 50) -> list[np.ndarray]:
    """Batches of indices with similar lengths (less padding).

    With ``rng`` (training): shuffle, sort within pools of ``pool`` batches, shuffle the batches.
    Without (inference): plain sort by length.
    """
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    chunk = batch_size * pool
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


# --- training loop ------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Optimiser and schedule settings shared by the classifier routers."""

    epochs: int = 3
    batch_size: int = 16
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    val_fraction: float = 0.1
    patience: int = 1
    max_grad_norm: float = 1.0
    seed: int = 0
    show_progress: bool = True
    desc: str = "training"


@dataclass
class TrainResult:
    """What happened in a fit: per-epoch losses (index 0 = before training) and the epoch kept."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    n_train: int = 0
    n_val: int = 0
    seconds: float = 0.0


# loss(indices, train) -> (sum of weighted per-example losses, sum of weights)
BatchLoss = Callable[[np.ndarray, bool], "tuple[torch.Tensor, torch.Tensor]"]


def validation_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``n`` prompts into train and validation indices (no validation below 10 prompts)."""
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInputError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction)) if n >= 10 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_loop(model: torch.nn.Module, batch_loss: BatchLoss, lengths: Sequence[int] | np.ndarray, cfg: TrainConfig,
               params: Sequence[torch.nn.Parameter] | None = None) -> TrainResult:
    """Fine-tune ``model`` with AdamW, linear warmup/decay, clipping and early stopping on validation loss.

    ``lengths`` (one per example) drives length-bucketed batching. The weights of the best epoch
    (lowest validation loss, or training loss without a validation split) are restored at the end.
    """

    import torch

    from ..progress import progress

    n = len(lengths)
    if n < 2:
        raise DataError(f"need at least 2 training prompts, got {n}")
    lengths = np.asarray(lengths)
    train_idx, val_idx = validation_split(n, cfg.val_fraction, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
    total = max(1, steps_per_epoch * cfg.epochs)
    warmup = int(total * cfg.warmup_fraction)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)

    def evaluate(index: np.ndarray, what: str) -> float:
        model.eval()
        loss_sum, weight_sum = 0.0, 0.0
        with torch.inference_mode():
            batches = length_batches(lengths[index], cfg.batch_size * 2)
            for b in progress(batches, desc=f"{cfg.desc}: {what}", leave=False, disable=not cfg.show_progress):
                s, w = batch_loss(index[b], False)
                loss_sum += float(s)
                weight_sum += float(w)
        return loss_sum / max(weight_sum, 1e-12)

    result = TrainResult(n_train=len(train_idx), n_val=len(val_idx))
    start = time.perf_counter()
    monitor = val_idx if len(val_idx) else train_idx
    best = evaluate(monitor, "validation" if len(val_idx) else "train loss")
    result.val_loss.append(best)
    result.train_loss.append(float("nan"))
    best_state = _state_copy(model)
    bad = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        batches = length_batches(lengths[train_idx], cfg.batch_size, rng)
        bar = progress(batches, desc=f"{cfg.desc}: epoch {epoch}/{cfg.epochs}", unit="batch",
                   disable=not cfg.show_progress)
        run_sum, run_w = 0.0, 0.0
        for b in bar:
            s, w = batch_loss(train_idx[b], True)
            loss = s / w.clamp(min=1e-12)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            sched.step()
            run_sum += float(s.detach())
            run_w += float(w)
            bar.set_postfix(loss=f"{run_sum / max(run_w, 1e-12):.4f}")
        result.train_loss.append(run_sum / max(run_w, 1e-12))
        val = evaluate(monitor, "validation" if len(val_idx) else "train loss")
        result.val_loss.append(val)
        log.info("%s epoch %d: train loss %.4f, validation loss %.4f", cfg.desc, epoch, result.train_loss[-1], val)
        if val < best - 1e-4:
            best, bad, result.best_epoch = val, 0, epoch
            best_state = _state_copy(model)
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


# --- inference ----------------------------------------------------------------------------------
def batched_inference(fn: Callable[[np.ndarray], np.ndarray], lengths: Sequence[int] | np.ndarray, batch_size: int,
                      show_progress: bool = False, desc: str = "scoring") -> np.ndarray:
    """Run ``fn(indices) -> rows`` over length-sorted batches under ``inference_mode``; rows in input order."""
    import torch

    from ..progress import progress

    lengths = np.asarray(lengths)
    out: np.ndarray | None = None
    with torch.inference_mode():
        for b in progress(length_batches(lengths, batch_size), desc=desc, disable=not show_progress):
            rows = np.asarray(fn(b))
            if out is None:
                out = np.zeros((len(lengths), *rows.shape[1:]), dtype=np.float64)
            out[b] = rows
    assert out is not None
    return out


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer parameter >= ``minimum``, with a clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_fraction(name: str, value: Any, upper_open: bool = True) -> float:
    """A float parameter in [0, 1) (or [0, 1])."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number in [0, 1), got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v >= 1 if upper_open else v > 1):
        raise InvalidInputError(f"{name} must be in [0, 1{')' if upper_open else ']'}, got {value!r}")
    return v


def check_positive_float(name: str, value: Any, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InvalidInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v
