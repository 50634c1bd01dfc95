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


def comparison_text(probability: float, threshold: float, min_digits: int = 3, max_digits: int = 6) -> tuple[str, str, str]:
    """(probability, threshold, relation) as words for "P = <p> is <relation> the threshold <t>".

    The digits rule: both numbers get the fewest decimals (at least ``min_digits``) at which they read
    differently, so a reader comparing them on screen gets the engine's answer (strong iff P >= threshold).
    The relation is "at or above" / "below"; "just above" / "just below" when more than ``min_digits``
    decimals were needed (or even ``max_digits`` cannot separate them); "exactly at" when they are equal.

    >>> comparison_text(0.50004, 0.5)
    ('0.50004', '0.50000', 'just above')
    >>> comparison_text(0.61, 0.5)
    ('0.610', '0.500', 'at or above')
    """
    p, t = float(probability), float(threshold)
    digits = min_digits
    p_text, t_text = f"{p:.{digits}f}", f"{t:.{digits}f}"
    while p_text == t_text and digits < max_digits:
        digits += 1
        p_text, t_text = f"{p:.{digits}f}", f"{t:.{digits}f}"
    if p == t:
        return p_text, t_text, "exactly at"
    close = digits > min_digits or p_text == t_text
    if p > t:
        return p_text, t_text, "just above" if close else "at or above"
    return p_text, t_text, "just below" if close else "below"
