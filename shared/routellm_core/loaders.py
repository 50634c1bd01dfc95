"""Loaders that turn public preference and correctness data into :class:`PreferenceRecord`.

- Chatbot Arena battles as published (``lmsys-arena-human-preference-55k`` CSV).
- AlpacaEval pairwise annotations (``alpaca_eval/annotations.jsonl``).
- Correctness tables (RouteLLM's MMLU/GSM8K CSVs, RouterBench CSVs): the paper's "golden
  label" augmentation -- one model right and the other wrong is a win, agreement is a tie.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .data.arena import ARENA_JUDGES, arena_hard_questions, arena_hard_verdicts, chatbot_arena_votes
from .data.files import ALPACA_EVAL, ARENA_HARD_BASELINE, ROUTERBENCH_DIR, data_path
from .data.golden import golden_outcome
from .data.paper import PAPER_STRONG_COLUMN, PAPER_WEAK_COLUMN, gsm8k_table, mmlu_tables, mt_bench_questions
from .data.tables import correctness, csv_columns, is_binary_column, iter_jsonl, prompt_text, read_csv
from .errors import DataError
from .models import canonical_model_name
from .records import PreferenceRecord

PathLike = str | os.PathLike[str]

__all__ = ["prompt_text", "load_arena_battles", "load_alpaca_eval", "load_correctness_table", "load_routerbench",
           "load_routellm_golden", "load_arena_hard", "load_chatbot_arena", "load_records_jsonl", "load_training_records"]


def load_arena_battles(path: PathLike, source: str = "arena") -> list[PreferenceRecord]:
    """Chatbot Arena battles as published (CSV): ``prompt`` (JSON list), ``model_a``, ``model_b``, winner columns."""
    required = ["prompt", "model_a", "model_b", "winner_model_a", "winner_model_b", "winner_tie"]
    _, rows = read_csv(path, required)
    records = []
    for row in rows:
        prompt = prompt_text(row["prompt"])
        a, b = canonical_model_name(row["model_a"]), canonical_model_name(row["model_b"])
        if not prompt.strip() or a == b:
            continue
        if int(float(row["winner_tie"] or 0)):
            outcome = 0.5
        elif int(float(row["winner_model_a"] or 0)):
            outcome = 1.0
        elif int(float(row["winner_model_b"] or 0)):
            outcome = 0.0
        else:
            continue
        records.append(PreferenceRecord(prompt, a, b, outcome, source))
    return records


def load_alpaca_eval(
    data_dir: PathLike | None = None,
    annotators: Iterable[str] | None = ("weighted_alpaca_eval_gpt4_turbo", "alpaca_eval_gpt4"),
    path: PathLike | None = None,
) -> list[PreferenceRecord]:
    """AlpacaEval annotations; ``preference`` in [1, 2] becomes the soft outcome 2 - preference."""
    path = Path(path) if path else data_path(ALPACA_EVAL, data_dir)
    wanted = set(annotators) if annotators is not None else None
    records = []
    required = ["instruction", "preference", "generator_1", "generator_2", "annotator"]
    for _, row in iter_jsonl(path, required):
        instruction, pref = row["instruction"], row["preference"]
        if wanted is not None and row["annotator"] not in wanted:
            continue
        if pref is None or not instruction.strip():
            continue
        a, b = canonical_model_name(row["generator_1"]), canonical_model_name(row["generator_2"])
        if a == b:
            continue
        outcome = min(1.0, max(0.0, 2.0 - float(pref)))
        records.append(PreferenceRecord(instruction, a, b, outcome, f"alpaca_eval:{row.get('dataset', '')}"))
    return records


def load_correctness_table(
    path: PathLike,
    models: Sequence[str] | None = None,
    prompt_column: str = "prompt",
    source: str | None = None,
    pairs_with: Sequence[str] | None = None,
    include_ties: bool = True,
) -> list[PreferenceRecord]:
    """Golden labels from a table with one 0/1 (or True/False) correctness column per model.

    For every pair of models on each prompt: one right and the other wrong is a win, both equal a
    tie (the paper's augmentation). ``models`` picks the score columns (default: every column that
    holds only 0/1 values); ``pairs_with`` keeps only pairs that include one of those models.
    """
    path = Path(path)
    columns, rows = read_csv(path, [prompt_column, *(models or [])])
    if models is None:
        models = [c for c in columns if c and c != prompt_column and "|" not in c and is_binary_column(rows, c)]
    if len(models) < 2:
        raise DataError(f"{path.name} needs at least two model correctness columns, found {list(models)}")
    names = {m: canonical_model_name(m) for m in models}
    keep = {canonical_model_name(m) for m in pairs_with} if pairs_with else None
    src = source or path.stem
    records = []
    for i, row in enumerate(rows):
        prompt = prompt_text(row[prompt_column])
        if not prompt.strip():
            continue
        scores = {m: correctness(row[m], f"{path.name} row {i + 2}") for m in models}
        for m_a, m_b in itertools.combinations(models, 2):
            a, b = names[m_a], names[m_b]
            if keep is not None and a not in keep and b not in keep:
                continue
            s_a, s_b = scores[m_a], scores[m_b]
            if s_a is None or s_b is None:
                continue
            outcome = golden_outcome(s_a, s_b)
            if outcome == 0.5 and not include_ties:
                continue
            records.append(PreferenceRecord(prompt, a, b, outcome, src))
    return records


def load_routerbench(data_dir: PathLike | None = None, pairs_with: Sequence[str] | None = None) -> list[PreferenceRecord]:
    """Golden labels from every RouterBench CSV in ``routerbench/`` (11 models, MIT)."""
    folder = data_path(ROUTERBENCH_DIR, data_dir)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise DataError(f"no RouterBench CSV files in {folder}")
    records: list[PreferenceRecord] = []
    for path in files:
        records += load_correctness_table(path, source=f"routerbench:{path.stem}", pairs_with=pairs_with)
    return records


def load_routellm_golden(benchmark: str, data_dir: PathLike | None = None) -> list[PreferenceRecord]:
    """Golden labels for the paper's pair: ``mmlu``/``gsm8k`` correctness, ``mt-bench`` GPT-4 judge scores.

    The strong model wins an item when it scored higher, loses when lower, ties when equal.
    """
    models = [PAPER_STRONG_COLUMN, PAPER_WEAK_COLUMN]
    if benchmark == "gsm8k":
        return load_correctness_table(gsm8k_table(data_dir)[0], models, source="gsm8k")
    if benchmark == "mmlu":
        records: list[PreferenceRecord] = []
        for domain, path in mmlu_tables(data_dir).items():
            records += load_correctness_table(path, models, source=f"mmlu:{domain}")
        return records
    if benchmark in {"mt-bench", "mt_bench"}:
        strong, weak = canonical_model_name(PAPER_STRONG_COLUMN), canonical_model_name(PAPER_WEAK_COLUMN)
        questions, _ = mt_bench_questions(data_dir)
        return [PreferenceRecord(q.turns[0], strong, weak, golden_outcome(_mean(q.scores[strong]), _mean(q.scores[weak])),
                                 "mt-bench:golden") for q in questions if q.scores.get(strong) and q.scores.get(weak)]
    raise DataError(f"no golden-label table for benchmark {benchmark!r} (choose mmlu, gsm8k or mt-bench)")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def load_arena_hard(data_dir: PathLike | None = None, judges: Iterable[str] = ARENA_JUDGES,
                    models: Iterable[str] | None = None) -> list[PreferenceRecord]:
    """Arena-Hard verdicts: per (prompt, model, judge) one soft record of the model against gpt-4-0314.

    ``outcome`` is the share of the verdict's rows the model won (ties half; a decisive verdict is
    3 rows), source ``arena_hard:<judge>``. ``models`` keeps only those models' verdicts.
    """
    prompts = {q.question_id: q.prompt for q in arena_hard_questions(data_dir)}
    baseline = canonical_model_name(ARENA_HARD_BASELINE)
    keep = {canonical_model_name(m) for m in models} if models is not None else None
    records = []
    for v in arena_hard_verdicts(data_dir, judges):
        if v.question_id not in prompts or (keep is not None and v.model not in keep):
            continue  # verdicts on prompts removed from the data set
        records.append(PreferenceRecord(prompts[v.question_id], v.model, baseline, v.score, f"arena_hard:{v.judge}"))
    return records


def load_chatbot_arena(data_dir: PathLike | None = None) -> list[PreferenceRecord]:
    """Chatbot Arena human votes: 1 / 0 for a win, 0.5 for ``tie`` and ``tie (bothbad)``.

    Sources: ``chatbot_arena`` (wins and plain ties) and ``chatbot_arena:bothbad`` (both answers
    judged bad), so a recipe can weight the two kinds of tie differently.
    """
    return [PreferenceRecord(v.prompt, v.model_a, v.model_b, v.outcome,
                             "chatbot_arena:bothbad" if v.winner == "tie (bothbad)" else "chatbot_arena")
            for v in chatbot_arena_votes(data_dir)]


def load_records_jsonl(path: PathLike) -> list[PreferenceRecord]:
    """Our own JSONL format: one PreferenceRecord's fields per line."""
    path = Path(path)
    records = []
    for line_no, row in iter_jsonl(path):
        try:
            records.append(
                PreferenceRecord(
                    row["prompt"], canonical_model_name(row["model_a"]), canonical_model_name(row["model_b"]),
                    float(row["outcome"]), row.get("source", path.stem), float(row.get("weight", 1.0)),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path.name} line {line_no}: bad record ({exc!r})") from None
    return records


TRAINING_SETS = ("alpaca_eval", "routerbench", "mmlu", "gsm8k", "mt-bench", "arena_hard", "chatbot_arena")


def load_training_records(name: str, data_dir: PathLike | None = None) -> list[PreferenceRecord]:
    """Load a training set by name (see ``TRAINING_SETS``) or a .jsonl/.csv file path."""
    loaders = {
        "alpaca_eval": lambda: load_alpaca_eval(data_dir),
        "routerbench": lambda: load_routerbench(data_dir),
        "mmlu": lambda: load_routellm_golden("mmlu", data_dir),
        "gsm8k": lambda: load_routellm_golden("gsm8k", data_dir),
        "mt-bench": lambda: load_routellm_golden("mt-bench", data_dir),
        "arena_hard": lambda: load_arena_hard(data_dir),
        "chatbot_arena": lambda: load_chatbot_arena(data_dir),
    }
    if name in loaders:
        return loaders[name]()
    path = Path(name)
    if path.suffix == ".jsonl":
        return load_records_jsonl(path)
    if path.suffix == ".csv":
        if {"model_a", "model_b", "winner_model_a"} <= set(csv_columns(path)):
            return load_arena_battles(path)
        return load_correctness_table(path)
    raise DataError(f"unknown dataset {name!r}: use {', '.join(TRAINING_SETS)} or a .jsonl/.csv path")
