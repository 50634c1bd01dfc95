"""Judge prompts and verdict parsing, in the MT-Bench / Arena-Hard formats.

Pairwise: the judge compares two answers and ends with ``[[A>>B]]``, ``[[A>B]]``, ``[[A=B]]``,
``[[B>A]]``, ``[[B>>A]]`` (Arena-Hard) or ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (MT-Bench, C = tie). Asked in
both orders, the two verdicts are averaged so a judge that favours the first position cancels out.
With a reference answer each answer is graded alone against it, ``Rating: [[1..10]]`` (MT-Bench's
``single-math-v1``), and the soft outcome is the difference of the two grades.
"""

from __future__ import annotations

import re

# P(the first answer shown is better) for each pairwise verdict label.
PAIRWISE_SCALE: dict[str, float] = {"A>>B": 1.0, "A>B": 0.75, "A=B": 0.5, "B=A": 0.5, "B>A": 0.25, "B>>A": 0.0,
                                    "A<B": 0.25, "A<<B": 0.0, "A": 1.0, "B": 0.0, "C": 0.5, "TIE": 0.5}
_PAIRWISE = re.compile(r"\[\[\s*(A\s*>>\s*B|A\s*>\s*B|A\s*=\s*B|B\s*=\s*A|B\s*>\s*A|B\s*>>\s*A|A\s*<<\s*B|A\s*<\s*B|"
                       r"A|B|C|tie)\s*\]\]", re.IGNORECASE)
_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_RATING_BACKUP = re.compile(r"[Rr]ating:?\s*\[?\s*(\d+(?:\.\d+)?)\s*\]?")

PAIRWISE_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to "
    "the user prompt displayed below. Consider helpfulness, relevance, accuracy, depth and conciseness. Do not let "
    "the order in which the responses were presented, their length or the assistants' names influence your "
    "evaluation. After a short explanation, output exactly one final verdict label: [[A>>B]] if assistant A is "
    "significantly better, [[A>B]] if A is slightly better, [[A=B]] for a tie, [[B>A]] if B is slightly better, "
    "[[B>>A]] if B is significantly better.")
REFERENCE_SYSTEM = (
    "Please act as an impartial judge and evaluate the response of an AI assistant to the user question below. "
    "Consider correctness and helpfulness. You will be given a reference answer and the assistant's answer. Compare "
    "the assistant's answer with the reference answer, identify any mistakes, and be as objective as possible. After "
    "a short explanation, rate the response on a scale of 1 to 10 strictly in this format: \"[[rating]]\", for "
    "example: \"Rating: [[5]]\".")


class VerdictError(ValueError):
    """A judge's text holds no verdict in the expected format (the call is retried, then an error row)."""


def pairwise_messages(prompt: str, answer_a: str, answer_b: str) -> list[dict[str, str]]:
    """The judge's chat messages for one order: A is shown first."""
    user = (f"<|User Prompt|>\n{prompt}\n\n<|The Start of Assistant A's Answer|>\n{answer_a}\n"
            f"<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n{answer_b}\n"
            f"<|The End of Assistant B's Answer|>")
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": user}]


def reference_messages(prompt: str, answer: str, reference: str) -> list[dict[str, str]]:
    """The judge's chat messages for grading one answer against a reference answer."""
    user = (f"[Question]\n{prompt}\n\n[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]\n\n"
            f"[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]")
    return [{"role": "system", "content": REFERENCE_SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> float:
    """P(answer A is better) from a pairwise judgment; the last verdict label counts (judges restate it)."""
    found = _PAIRWISE.findall(text or "")
    if not found:
        raise VerdictError(f"no pairwise verdict label like [[A>B]] in the judgment: {_tail(text)!r}")
    label = re.sub(r"\s+", "", found[-1]).upper()
    return PAIRWISE_SCALE[label]


def parse_rating(text: str, low: float = 1.0, high: float = 10.0) -> float:
    """The 1-10 grade of a single-answer judgment: the first ``[[n]]`` (MT-Bench's rule), else ``Rating: n``."""
    match = _RATING.search(text or "") or _RATING_BACKUP.search(text or "")
    if not match:
        raise VerdictError(f"no rating like [[7]] in the judgment: {_tail(text)!r}")
    value = float(match.group(1))
    if not low <= value <= high:
        raise VerdictError(f"rating {value:g} outside [{low:g}, {high:g}]")
    return value


def both_orders_outcome(first: float, swapped: float) -> float:
    """P(strong better) from the strong-first verdict and the weak-first verdict (position bias cancels)."""
    return 0.5 * (first + (1.0 - swapped))


def graded_outcome(strong_rating: float, weak_rating: float, low: float = 1.0, high: float = 10.0) -> float:
    """P(strong better) from two reference grades: 0.5 plus half the grade difference on a 0-1 scale (ties 0.5)."""
    return min(1.0, max(0.0, 0.5 + 0.5 * (strong_rating - weak_rating) / (high - low)))


def _tail(text: str | None, n: int = 120) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]
