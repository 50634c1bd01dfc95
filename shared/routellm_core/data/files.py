"""Locations of the public data files, relative to the data directory (``../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

from ..datadir import resolve_data_dir
from ..errors import DataError

PathLike = str | os.PathLike[str]

# RouteLLM's evaluation files (github.com/lm-sys/RouteLLM @0b64fda, routellm/evals).
ROUTELLM_EVALS = "routellm_evals"
GSM8K_RESPONSES = "routellm_evals/gsm8k/gsm8k_responses.csv"
MMLU_RESPONSES_DIR = "routellm_evals/mmlu/responses"
MT_BENCH_QUESTIONS = "routellm_evals/mt_bench/question.jsonl"
MT_BENCH_JUDGEMENTS = "routellm_evals/mt_bench/judgements.jsonl"
CONTAMINATED = {
    "mt-bench": "routellm_evals/mt_bench/contaminated_prompts.jsonl",
    "mmlu": "routellm_evals/mmlu/contaminated_prompts.jsonl",
    "gsm8k": "routellm_evals/gsm8k/contaminated_prompts.jsonl",
}
# RouteLLM's column names for the paper's pair (gpt-4-1106-preview vs Mixtral-8x7B).
PAPER_STRONG_COLUMN = "gpt-4-1106-preview"
PAPER_WEAK_COLUMN = "mistralai/Mixtral-8x7B-Instruct-v0.1"

# Training sets.
ALPACA_EVAL = "alpaca_eval/annotations.jsonl"
ROUTERBENCH_DIR = "routerbench"

# Real Chatbot Arena prompts: Arena-Hard-Auto judge verdicts, and human votes.
ARENA_HARD_QUESTIONS = "arena_hard/question.jsonl"
ARENA_HARD_VERDICTS = {
    "gpt-4-1106-preview": "arena_hard/battles_judge_gpt-4-1106-preview.jsonl",
    "gpt-4o": "arena_hard/battles_judge_gpt-4o.jsonl",
}
ARENA_HARD_BASELINE = "gpt-4-0314"
ARENA_HARD_ANSWERS_DIR = "arena_hard/answers"
CHATBOT_ARENA_BATTLES = "chatbot_arena/battles.jsonl"


def data_path(relative: str, data_dir: PathLike | None = None, must_exist: bool = True) -> Path:
    """``relative`` inside the data directory; a clear :class:`DataError` when it is missing."""
    path = resolve_data_dir(data_dir) / relative
    if must_exist and not path.exists():
        raise DataError(f"data file missing: {path} (run `routellm-core download` or pass --data-dir)")
    return path
