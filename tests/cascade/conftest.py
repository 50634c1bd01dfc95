"""Fixtures: real graded answers and a real (text-feature) answer scorer trained on a slice of them."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def graded_answers(data_dir):
    from routellm_core.cascade.records import answer_records

    return answer_records(data_dir)


@pytest.fixture(scope="session")
def feature_scorer(graded_answers):
    """A text-feature scorer (no embeddings) trained on every third graded answer: real data, seconds to fit."""
    from routellm_core.cascade.scorer import AnswerScorer

    return AnswerScorer(use_embeddings=False, l2=16.0).fit(graded_answers[::3])


@pytest.fixture
def servers(openai_pair):
    """The loopback strong/weak pair answering with fixed texts (cascade_helpers.STRONG_ANSWER / WEAK_ANSWER)."""
    from cascade_helpers import STRONG_ANSWER, WEAK_ANSWER

    strong, weak = openai_pair
    weak.responder = lambda body: WEAK_ANSWER
    strong.responder = lambda body: STRONG_ANSWER
    return strong, weak
