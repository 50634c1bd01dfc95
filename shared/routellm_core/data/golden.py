"""The paper's golden-label rule, written once: compare two models' scores on one item."""

from __future__ import annotations


def golden_outcome(score_a: float, score_b: float) -> float:
    """P(a beats b) from their scores on one item: higher wins (1.0 / 0.0), equal is a tie (0.5)."""
    diff = float(score_a) - float(score_b)
    return 0.5 if diff == 0 else (1.0 if diff > 0 else 0.0)
