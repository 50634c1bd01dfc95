"""Shared plumbing for the fine-tuned classifier routers (``bert``, ``causal_llm``).

Both routers learn P(strong model wins) from a prompt's tokens, so they share: turning preference
records into one soft target per unique prompt, head+tail truncation, length-bucketed batches,
a seeded training loop with a validation split and early stopping, and batched inference under
``torch.inference_mode``. torch is imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, InvalidInputError
from ..records import PreferenceRecord

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


# --- training targets ---------------------------------------------------------------------------
def soft_label(outcome: float, n_classes: int) -> np.ndarray:
    """P(strong wins) in [0, 1] spread over ``n_classes`` ordered labels (0 = strong wins, last = weak wins).

    The outcome is placed on a line from class 0 (outcome 1) to class n-1 (outcome 0) and split
    between the two nearest classes, so the label's expected value is the outcome: with 3 classes
    1 -> strong wins, 0.5 -> tie, 0 -> weak wins, and a soft judge score 0.9 -> 80% strong, 20% tie.
    """
    pos = (1.0 - float(outcome)) * (n_classes - 1)
    lo = min(int(math.floor(pos)), n_classes - 2)
    frac = pos - lo
    out = np.zeros(n_classes, dtype=np.float64)
    out[lo] += 1.0 - frac
    out[lo + 1] += frac
    return out


def expected_strong_win(probs: np.ndarray) -> np.ndarray:
    """Inverse of :func:`soft_label`: the expected P(strong wins) of label distributions (rows)."""
    n = probs.shape[-1]
    values = 1.0 - np.arange(n) / (n - 1)
    return probs @ values


@dataclass
class PromptTargets:
    """One training example per unique prompt: soft label distribution and sample weight."""

    prompts: list[str]
    targets: np.ndarray  # (n, n_classes), rows sum to 1
    weights: np.ndarray  # (n,)
    n_pair_records: int = 0
    n_related_records: int = 0

    def subset(self, index: np.ndarray) -> PromptTargets:
        return PromptTargets([self.prompts[i] for i in index], self.targets[index], self.weights[index],
                             self.n_pair_records, self.n_related_records)


def prompt_targets(records: Sequence[PreferenceRecord], strong: str, weak: str, n_classes: int,
                   related_weight: float) -> PromptTargets:
    """Soft targets per unique prompt for P(``strong`` beats ``weak``).

    Records of the pair itself are used as they are (oriented to strong vs weak). With
    ``related_weight > 0`` records where the strong model plays any other model count as
    "strong wins" evidence, and records where the weak model plays another model count with the
    other model standing in for the strong one; per prompt, the mean of those related labels is
    mixed with the mean of the pair's own labels at ``related_weight : 1`` (related only, when the
    pair never met on that prompt). Averaging labels per prompt is exact: the soft cross-entropy
    summed over a prompt's records equals their count times the cross-entropy on the mean label, so
    each prompt is seen once per epoch however many battles it had. A prompt's sample weight is the
    mean ``record.weight`` of the records used.
    """
    if isinstance(records, PreferenceRecord | str | bytes):
        raise InvalidInputError("records must be a list of PreferenceRecord")
    records = list(records)
    if not records:
        raise DataError("no training records")
    if not math.isfinite(related_weight) or related_weight < 0:
        raise InvalidInputError(f"related_weight must be a finite number >= 0, got {related_weight!r}")
    # prompt -> [pair label sum, pair weight sum, related label sum, related weight sum, record weights]
    acc: dict[str, list[Any]] = {}
    n_pair = n_rel = 0
    for i, r in enumerate(records):
        if not isinstance(r, PreferenceRecord):
            raise InvalidInputError(f"record {i} is {type(r).__name__}, expected PreferenceRecord")
        p = r.oriented(strong, weak)
        related = False
        if p is None and related_weight > 0:
            if strong in (r.model_a, r.model_b):
                p = r.outcome if r.model_a == strong else 1.0 - r.outcome
                related = True
            elif weak in (r.model_a, r.model_b):
                p = 1.0 - r.outcome if r.model_a == weak else r.outcome
                related = True
        if p is None or r.weight <= 0:
            continue
        slot = acc.setdefault(r.prompt, [np.zeros(n_classes), 0.0, np.zeros(n_classes), 0.0, []])
        k = 2 if related else 0
        slot[k] += r.weight * soft_label(p, n_classes)
        slot[k + 1] += r.weight
        slot[4].append(r.weight)
        n_rel += related
        n_pair += not related
    if not acc:
        hint = "" if related_weight > 0 else " (related_weight=0 keeps only records of that exact pair)"
        raise DataError(f"no training records compare {strong!r} with {weak!r}{hint}")
    prompts = list(acc)
    targets = np.zeros((len(prompts), n_classes))
    weights = np.zeros(len(prompts))
    for i, prompt in enumerate(prompts):
        pair_sum, pair_w, rel_sum, rel_w, ws = acc[prompt]
        mix = np.zeros(n_classes)
        if pair_w > 0:
            mix += pair_sum / pair_w
        if rel_w > 0:
            mix += (related_weight if pair_w > 0 else 1.0) * rel_sum / rel_w
        targets[i] = mix / mix.sum()
        weights[i] = float(np.mean(ws))
    return PromptTargets(prompts, targets, weights, n_pair, n_rel)


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


def length_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator | None = None,
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


def train_loop(model: torch.nn.Module, batch_loss: BatchLoss, lengths: Sequence[int], cfg: TrainConfig,
               params: Sequence[torch.nn.Parameter] | None = None) -> TrainResult:
    """Fine-tune ``model`` with AdamW, linear warmup/decay, clipping and early stopping on validation loss.

    ``lengths`` (one per example) drives length-bucketed batching. The weights of the best epoch
    (lowest validation loss, or training loss without a validation split) are restored at the end.
    """
    import time

    import torch
    from tqdm.auto import tqdm

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
            for b in tqdm(batches, desc=f"{cfg.desc}: {what}", leave=False, disable=not cfg.show_progress):
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
        bar = tqdm(batches, desc=f"{cfg.desc}: epoch {epoch}/{cfg.epochs}", unit="batch",
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
def batched_inference(fn: Callable[[np.ndarray], np.ndarray], lengths: Sequence[int], batch_size: int,
                      show_progress: bool = False, desc: str = "scoring") -> np.ndarray:
    """Run ``fn(indices) -> rows`` over length-sorted batches under ``inference_mode``; rows in input order."""
    import torch
    from tqdm.auto import tqdm

    lengths = np.asarray(lengths)
    out: np.ndarray | None = None
    with torch.inference_mode():
        for b in tqdm(length_batches(lengths, batch_size), desc=desc, disable=not show_progress):
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


def subsample(targets: PromptTargets, max_samples: int | None, seed: int) -> PromptTargets:
    """At most ``max_samples`` prompts, drawn with ``seed`` (for CPU-sized training runs)."""
    if max_samples is None or len(targets.prompts) <= max_samples:
        return targets
    keep = np.sort(np.random.default_rng(seed + 1).permutation(len(targets.prompts))[:max_samples])
    return targets.subset(keep)


__all__ = [
    "PromptTargets", "TrainConfig", "TrainResult", "batched_inference", "deterministic", "expected_strong_win",
    "head_tail", "length_batches", "pad_batch", "prompt_targets", "quiet_transformers", "resolve_device",
    "set_threads", "soft_label", "subsample", "train_loop", "validation_split",
]
