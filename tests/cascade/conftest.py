"""Fixtures: the loopback pair answering fixed texts (graded answers and the feature scorer: tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def servers(openai_pair):
    """The loopback strong/weak pair answering with fixed texts (cascade_helpers.STRONG_ANSWER / WEAK_ANSWER)."""
    from cascade_helpers import STRONG_ANSWER, WEAK_ANSWER

    strong, weak = openai_pair
    weak.responder = lambda body: WEAK_ANSWER
    strong.responder = lambda body: STRONG_ANSWER
    return strong, weak
