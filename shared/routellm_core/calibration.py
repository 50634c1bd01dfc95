"""Turn a target share of strong-model calls into a threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InvalidInputError
from .routers.base import Router


def threshold_for_fraction(scores: Sequence[float] | np.ndarray, strong_fraction: float) -> float:
    """The threshold t such that a ``strong_fraction`` share of ``scores`` is >= t.

    Ties in scores may make the realised share slightly larger; 0 sends everything to the weak
    model (t just above the top score, capped at 1), 1 everything to the strong model (t = 0).
    """
    try:
        frac = float(strong_fraction)
    except (TypeError, ValueError):
        raise InvalidInputError(f"strong_fraction must be a number in [0, 1], got {strong_fraction!r}") from None
    if not np.isfinite(frac) or not 0.0 <= frac <= 1.0:
        raise InvalidInputError(f"strong_fraction must be in [0, 1], got {strong_fraction!r}")
    values = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if values.size == 0:
        raise InvalidInputError("need at least one prompt to calibrate a threshold")
    k = int(round(frac * values.size))
    if k <= 0:
        return float(min(1.0, np.nextafter(values[0], np.inf)))
    if k >= values.size:
        return 0.0
    return float(values[k - 1])


def calibrate_threshold(router: Router, prompts: Sequence[str], strong_fraction: float) -> float:
    """The threshold that sends ``strong_fraction`` of ``prompts`` to the strong model (as RouteLLM's calibrate)."""
    if not isinstance(prompts, str) and len(prompts) == 0:
        raise InvalidInputError("need at least one prompt to calibrate a threshold")
    threshold_for_fraction([0.5], strong_fraction)  # validate before the (possibly slow) scoring
    return threshold_for_fraction(router.predict_proba(prompts), strong_fraction)
