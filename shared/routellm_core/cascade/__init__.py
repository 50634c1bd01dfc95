"""Answer-aware routing: score the weak model's answer, escalate to the strong model when it looks inadequate.

``features`` (cheap text features), ``records`` (graded answers from the data dir), ``scorer``
(:class:`AnswerScorer`), ``default`` (the cached default scorer). The decision itself lives in
:mod:`routellm_core.cascade_policy`.
"""

from .records import AnswerRecord, answer_records
from .scorer import AnswerScorer

__all__ = ["AnswerRecord", "AnswerScorer", "answer_records"]
