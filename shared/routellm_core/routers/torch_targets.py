"""Training targets: preference records -> one soft P(strong wins) target per unique prompt."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, InvalidInputError
from ..records import PreferenceRecord

if TYPE_CHECKING:  # pragma: no cover
    pass

log = logging.getLogger(__name__)


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


def subsample(targets: PromptTargets, max_samples: int | None, seed: int) -> PromptTargets:
    """At most ``max_samples`` prompts, drawn with ``seed`` (for CPU-sized training runs)."""
    if max_samples is None or len(targets.prompts) <= max_samples:
        return targets
    keep = np.sort(np.random.default_rng(seed + 1).permutation(len(targets.prompts))[:max_samples])
    return targets.subset(keep)
