"""Cheap text features of an answer (and its prompt) that say something about its quality.

Judges and graders punish refusals, hedging, truncated or very short answers, missing code where
code was asked for, and arithmetic slips; all of these are visible in the text. Every feature is
computed with regular expressions in well under a millisecond for a 300-token answer.
"""

from __future__ import annotations

import math
import re

import numpy as np

_CODE_FENCE = re.compile(r"```")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+\u2022]|\d+[.)])\s+", re.M)
_HEADER = re.compile(r"^\s*#{1,6}\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"\w+")
_REFUSAL = re.compile(
    r"\b(?:i'?m sorry|i am sorry|i apologi[sz]e|i can(?:not|'t)|i am unable|i'm unable|unable to (?:provide|help|assist)"
    r"|as an ai|as a language model|i do not have (?:access|the ability)|i don'?t have (?:access|the ability)"
    r"|not able to (?:provide|help|assist))\b", re.I)
_HEDGE = re.compile(r"\b(?:might|may|perhaps|possibly|probably|not sure|unclear|i think|i believe|it depends|generally"
                    r"|typically|approximately|roughly)\b", re.I)
_CLARIFY = re.compile(r"\b(?:could you (?:please )?(?:provide|clarify|share)|please provide|more (?:context|details|information))\b",
                      re.I)
_FINAL = re.compile(r"(?:####|\\boxed|the (?:final )?answer is|answer:|therefore|so,? the|in total|in conclusion)", re.I)
# "12 * 3 = 36", "$4.50 + $2 + 1 = $7.50", "5 x 6 = 30": arithmetic chains the answer states as fact.
_N = r"\$?\d[\d,]*(?:\.\d+)?"
_ARITH = re.compile(rf"(?<![\w.)%$])({_N}(?:\s*[-+*/x\u00d7\u00f7]\s*{_N})+)\s*=\s*\$?(-?\d[\d,]*(?:\.\d+)?)(?![\d%])")
_OPS = str.maketrans({"x": "*", "\u00d7": "*", "\u00f7": "/", "$": None, ",": None})
_SAFE_EXPR = re.compile(r"^[\d.+\-*/ ]+$")
_CODE_WORDS = re.compile(r"\b(?:code|script|function|program|implement|python|javascript|sql|class|regex|bash|c\+\+|java)\b",
                         re.I)

FEATURE_NAMES: tuple[str, ...] = (
    "log_answer_chars", "log_answer_words", "log_prompt_chars", "log_length_ratio", "answer_lines",
    "code_blocks", "prompt_asks_code", "code_missing", "list_items", "headers", "bold",
    "refusal", "hedges_per_100w", "asks_clarification", "numbers_per_100w", "final_answer_marker",
    "arith_checked", "arith_wrong", "arith_wrong_share", "ends_cleanly", "prompt_word_overlap",
    "answer_question_marks",
)


def arithmetic_errors(answer: str) -> tuple[int, int]:
    """(checked, wrong) ``a op b op ... = c`` statements in the answer: calculation slips are visible.

    The left side is evaluated with the usual precedence (digits and + - * / only; nothing is
    ``eval``-ed unless it is such a plain expression).
    """
    checked = wrong = 0
    for m in _ARITH.finditer(answer):
        before = answer[: m.start()].rstrip()[-1:]
        if before and before in ")*/+-x\u00d7\u00f7^":
            continue  # part of a longer expression (parentheses, exponent...): not checkable here
        left = m.group(1).translate(_OPS)
        if not _SAFE_EXPR.match(left):
            continue
        try:
            value = eval(left, {"__builtins__": {}}, {})  # noqa: S307 -- digits and + - * / only (checked above)
            stated = float(m.group(2).replace(",", ""))
        except (SyntaxError, ZeroDivisionError, ValueError, OverflowError):
            continue
        checked += 1
        if abs(value - stated) > 0.011 * max(1.0, abs(value)) and abs(round(value, 2) - stated) > 0.006:
            wrong += 1
    return checked, wrong


def answer_features(prompt: str, answer: str) -> np.ndarray:
    """The :data:`FEATURE_NAMES` vector of one (prompt, answer) pair (float64)."""
    words = _WORD.findall(answer)
    n_words = len(words)
    per100 = 100.0 / max(n_words, 1)
    prompt_words = {w.lower() for w in _WORD.findall(prompt) if len(w) > 3}
    answer_words = {w.lower() for w in words}
    code_blocks = len(_CODE_FENCE.findall(answer)) // 2
    asks_code = 1.0 if (_CODE_WORDS.search(prompt) or "```" in prompt) else 0.0
    checked, wrong = arithmetic_errors(answer)
    tail = answer.rstrip()[-1:] if answer.strip() else ""
    values = (
        math.log1p(len(answer)), math.log1p(n_words), math.log1p(len(prompt)),
        math.log1p(len(answer)) - math.log1p(len(prompt)), math.log1p(answer.count("\n")),
        math.log1p(code_blocks), asks_code, asks_code * (code_blocks == 0), math.log1p(len(_LIST_ITEM.findall(answer))),
        math.log1p(len(_HEADER.findall(answer))), math.log1p(len(_BOLD.findall(answer))),
        1.0 if _REFUSAL.search(answer[:600]) else 0.0, len(_HEDGE.findall(answer)) * per100,
        1.0 if _CLARIFY.search(answer) else 0.0, len(_NUMBER.findall(answer)) * per100,
        1.0 if _FINAL.search(answer[-400:]) else 0.0, math.log1p(checked), float(wrong > 0), wrong / max(checked, 1),
        1.0 if tail in ".!?`)]}*|\"'" or tail.isdigit() else 0.0,
        len(prompt_words & answer_words) / max(len(prompt_words), 1), math.log1p(answer.count("?")),
    )
    return np.asarray(values, dtype=np.float64)


def feature_matrix(prompts: list[str], answers: list[str]) -> np.ndarray:
    """One :func:`answer_features` row per (prompt, answer)."""
    if not prompts:
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.stack([answer_features(p, a) for p, a in zip(prompts, answers, strict=True)])
