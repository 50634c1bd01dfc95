"""The RouteLLM paper's benchmark files: GSM8K and MMLU correctness tables, MT-Bench judgements.

One reader per file; the evaluation benchmarks, the golden-label loaders, decontamination and
the demos all use these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..models import canonical_model_name
from .files import (
    CONTAMINATED,
    GSM8K_RESPONSES,
    MMLU_RESPONSES_DIR,
    MT_BENCH_JUDGEMENTS,
    MT_BENCH_QUESTIONS,
    PAPER_STRONG_COLUMN,
    PAPER_WEAK_COLUMN,
    PathLike,
    data_path,
)
from .tables import iter_jsonl, prompt_text, read_csv


def contaminated_prompts(benchmark: str, data_dir: PathLike | None = None) -> set[str]:
    """``eval_prompt`` of every line of RouteLLM's ``contaminated_prompts.jsonl`` for ``benchmark``."""
    path = data_path(CONTAMINATED[benchmark], data_dir)
    return {row["eval_prompt"] for _, row in iter_jsonl(path, ["eval_prompt"])}


def gsm8k_table(data_dir: PathLike | None = None) -> tuple[Path, list[str], list[dict[str, str]]]:
    """(path, columns, rows) of ``gsm8k_responses.csv``: prompt, a correctness and a ``_response`` column per model."""
    path = data_path(GSM8K_RESPONSES, data_dir)
    columns, rows = read_csv(path, ["prompt", PAPER_STRONG_COLUMN, PAPER_WEAK_COLUMN])
    return path, columns, rows


def mmlu_tables(data_dir: PathLike | None = None) -> dict[str, Path]:
    """MMLU domain -> its correctness table (57 of them)."""
    folder = data_path(MMLU_RESPONSES_DIR, data_dir)
    files = sorted(folder.glob("mmlu_*.csv"))
    if not files:
        raise DataError(f"no MMLU response tables in {folder}")
    return {f.stem.removeprefix("mmlu_"): f for f in files}


@dataclass
class MTBenchQuestion:
    """One MT-Bench question with each model's judge scores (both turns) and answers."""

    question_id: int
    category: str
    turns: list[str]
    scores: dict[str, list[float]] = field(default_factory=dict)  # canonical model -> scores of its rows
    answers: dict[str, list[str]] = field(default_factory=dict)  # canonical model -> answers per turn


_TURN = re.compile(r"^### (User|Assistant A):\n", re.M)


def _conversation(judge_prompt: str) -> list[tuple[str, str]]:
    """(speaker, text) turns from a multi-turn judge prompt ("### User:" / "### Assistant A:" blocks)."""
    start = judge_prompt.find("<|The Start of Assistant A's Conversation with User|>")
    end = judge_prompt.find("<|The End of Assistant A's Conversation with User|>")
    if start < 0 or end < 0:
        return []
    parts = _TURN.split(judge_prompt[start:end])[1:]
    return [(parts[i], parts[i + 1].strip()) for i in range(0, len(parts) - 1, 2)]


def mt_bench_questions(data_dir: PathLike | None = None) -> tuple[list[MTBenchQuestion], int]:
    """MT-Bench questions left after RouteLLM's decontamination (a question goes if either turn is
    listed: 80 -> 72), with their judge scores; also returns how many were dropped."""
    questions = list(iter_jsonl(data_path(MT_BENCH_QUESTIONS, data_dir), ["question_id", "turns"]))
    bad = contaminated_prompts("mt-bench", data_dir)
    kept: dict[int, MTBenchQuestion] = {}
    for line_no, q in questions:
        turns = q["turns"]
        if not (isinstance(turns, list) and len(turns) >= 2 and all(isinstance(t, str) for t in turns)):
            raise DataError(f"question.jsonl line {line_no}: a question needs two 'turns'")
        if turns[0] not in bad and turns[1] not in bad:
            kept[int(q["question_id"])] = MTBenchQuestion(int(q["question_id"]), str(q.get("category", "")), turns)
    for line_no, row in iter_jsonl(data_path(MT_BENCH_JUDGEMENTS, data_dir), ["question_id", "model", "score"]):
        try:
            qid, model, score = int(row["question_id"]), canonical_model_name(row["model"]), float(row["score"])
        except (TypeError, ValueError):
            raise DataError(f"judgements.jsonl line {line_no}: question_id and score must be numbers") from None
        if qid not in kept:
            continue
        kept[qid].scores.setdefault(model, []).append(score)
        if int(row.get("turn", 1)) == 2:
            kept[qid].answers[model] = [t for who, t in _conversation(row.get("user_prompt", "")) if who == "Assistant A"]
    return list(kept.values()), len(questions) - len(kept)


def benchmark_prompts(data_dir: PathLike | None = None, benchmarks=("mt-bench", "mmlu", "gsm8k", "arena")) -> list[str]:
    """Every prompt of the evaluation benchmarks (MT-Bench first turns, MMLU, GSM8K, Arena-Hard)."""
    prompts: list[str] = []
    if "mt-bench" in benchmarks:
        prompts += [row["turns"][0] for _, row in iter_jsonl(data_path(MT_BENCH_QUESTIONS, data_dir), ["turns"])]
    if "gsm8k" in benchmarks:
        prompts += [prompt_text(r["prompt"]) for r in gsm8k_table(data_dir)[2]]
    if "mmlu" in benchmarks:
        for path in mmlu_tables(data_dir).values():
            prompts += [prompt_text(r["prompt"]) for r in read_csv(path, ["prompt"])[1]]
    if "arena" in benchmarks:
        from .arena import arena_hard_questions

        prompts += [q.prompt for q in arena_hard_questions(data_dir)]
    return prompts


__all__ = ["PAPER_STRONG_COLUMN", "PAPER_WEAK_COLUMN", "MTBenchQuestion", "benchmark_prompts", "contaminated_prompts",
           "gsm8k_table", "mmlu_tables", "mt_bench_questions"]
