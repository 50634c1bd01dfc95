"""Loaders that turn public preference and correctness data into :class:`PreferenceRecord`.

- Chatbot Arena battles as published (``lmsys-arena-human-preference-55k`` CSV).
- AlpacaEval pairwise annotations (``alpaca_eval/annotations.jsonl``).
- Correctness tables (RouteLLM's MMLU/GSM8K CSVs, RouterBench CSVs): the paper's "golden
  label" augmentation -- one model right and the other wrong is a win, agreement is a tie.
"""

from __future__ import annotations

import ast
import csv
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .datadir import data_file, resolve_data_dir
from .errors import DataError
from .models import canonical_model_name
from .records import PreferenceRecord

csv.field_size_limit(sys.maxsize)

PathLike = str | os.PathLike[str]


def _open_csv(path: PathLike, required: Sequence[str]) -> tuple[list[str], Iterator[dict[str, str]]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file missing: {path}")
    handle = path.open(newline="", encoding="utf-8")
    reader = csv.DictReader(handle)
    columns = list(reader.fieldnames or [])
    missing = [c for c in required if c not in columns]
    if missing:
        handle.close()
        raise DataError(f"{path.name} is missing column(s) {', '.join(missing)}")
    return columns, reader


def prompt_text(raw: str) -> str:
    """A prompt stored as plain text, a JSON list of turns, or a Python list literal -> first turn.

    Arena stores ``["turn 1", "turn 2"]`` as JSON; RouterBench as a Python literal. Routers judge
    the first user turn, as RouteLLM does.
    """
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                return value[0]
    return raw


def load_arena_battles(path: PathLike, source: str = "arena") -> list[PreferenceRecord]:
    """Chatbot Arena battles: ``prompt`` (JSON list), ``model_a``, ``model_b``, winner columns."""
    required = ["prompt", "model_a", "model_b", "winner_model_a", "winner_model_b", "winner_tie"]
    _, rows = _open_csv(path, required)
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
    path = Path(path) if path else data_file("alpaca_eval/annotations.jsonl", data_dir)
    if not path.is_file():
        raise DataError(f"data file missing: {path}")
    wanted = set(annotators) if annotators is not None else None
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                instruction, pref = row["instruction"], row["preference"]
                g1, g2, annotator = row["generator_1"], row["generator_2"], row["annotator"]
            except (json.JSONDecodeError, KeyError) as exc:
                raise DataError(f"{path.name} line {line_no}: bad annotation record ({exc})") from None
            if wanted is not None and annotator not in wanted:
                continue
            if pref is None or not instruction.strip():
                continue
            a, b = canonical_model_name(g1), canonical_model_name(g2)
            if a == b:
                continue
            outcome = min(1.0, max(0.0, 2.0 - float(pref)))
            records.append(PreferenceRecord(instruction, a, b, outcome, f"alpaca_eval:{row.get('dataset', '')}"))
    return records


def _truthy(value: str | None) -> float | None:
    """1.0 / 0.0 for a correctness cell, None when it is empty (that model has no result)."""
    v = (value or "").strip().lower()
    if not v or v in {"nan", "none"}:
        return None
    if v in {"true", "1", "1.0", "yes"}:
        return 1.0
    if v in {"false", "0", "0.0", "no"}:
        return 0.0
    return float(v)


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
    columns, rows = _open_csv(path, [prompt_column, *(models or [])])
    rows = list(rows)
    if models is None:
        models = [c for c in columns if c and c != prompt_column and "|" not in c and _is_binary_column(rows, c)]
    if len(models) < 2:
        raise DataError(f"{path.name} needs at least two model correctness columns, found {list(models)}")
    names = {m: canonical_model_name(m) for m in models}
    keep = {canonical_model_name(m) for m in pairs_with} if pairs_with else None
    src = source or path.stem
    records = []
    for row in rows:
        prompt = prompt_text(row[prompt_column])
        if not prompt.strip():
            continue
        try:
            scores = {m: _truthy(row[m]) for m in models}
        except ValueError as exc:
            raise DataError(f"{path.name}: non-numeric correctness value ({exc})") from None
        for m_a, m_b in itertools.combinations(models, 2):
            a, b = names[m_a], names[m_b]
            if keep is not None and a not in keep and b not in keep:
                continue
            if scores[m_a] is None or scores[m_b] is None:
                continue
            diff = scores[m_a] - scores[m_b]
            if diff == 0 and not include_ties:
                continue
            outcome = 0.5 if diff == 0 else (1.0 if diff > 0 else 0.0)
            records.append(PreferenceRecord(prompt, a, b, outcome, src))
    return records


def _is_binary_column(rows: list[dict[str, str]], column: str) -> bool:
    seen = {(r.get(column) or "").strip().lower() for r in rows} - {"", "nan"}
    return bool(seen) and seen <= {"true", "false", "0", "1", "0.0", "1.0"}


def load_routerbench(data_dir: PathLike | None = None, pairs_with: Sequence[str] | None = None) -> list[PreferenceRecord]:
    """Golden labels from every RouterBench CSV in ``routerbench/`` (11 models, MIT)."""
    folder = resolve_data_dir(data_dir) / "routerbench"
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
    root = resolve_data_dir(data_dir) / "routellm_evals"
    models = ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"]
    if benchmark == "gsm8k":
        return load_correctness_table(root / "gsm8k" / "gsm8k_responses.csv", models, source="gsm8k")
    if benchmark == "mmlu":
        files = sorted((root / "mmlu" / "responses").glob("mmlu_*.csv"))
        if not files:
            raise DataError(f"no MMLU response tables in {root / 'mmlu' / 'responses'}")
        records: list[PreferenceRecord] = []
        for path in files:
            domain = path.stem.removeprefix("mmlu_")
            records += load_correctness_table(path, models, source=f"mmlu:{domain}")
        return records
    if benchmark in {"mt-bench", "mt_bench"}:
        from .evaluation.benchmarks import load_mt_bench  # lazy: the benchmark loader owns the judgement format

        return load_mt_bench(data_dir).golden_records()
    raise DataError(f"no golden-label table for benchmark {benchmark!r} (choose mmlu, gsm8k or mt-bench)")


def load_records_jsonl(path: PathLike) -> list[PreferenceRecord]:
    """Our own JSONL format: one PreferenceRecord's fields per line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file missing: {path}")
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                records.append(
                    PreferenceRecord(
                        row["prompt"], canonical_model_name(row["model_a"]), canonical_model_name(row["model_b"]),
                        float(row["outcome"]), row.get("source", path.stem), float(row.get("weight", 1.0)),
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(f"{path.name} line {line_no}: bad record ({exc!r})") from None
    return records


def load_training_records(name: str, data_dir: PathLike | None = None) -> list[PreferenceRecord]:
    """Load a training set by name (``alpaca_eval``, ``routerbench``, ``mmlu``, ``gsm8k``, ``mt-bench``) or file path."""
    loaders = {
        "alpaca_eval": lambda: load_alpaca_eval(data_dir),
        "routerbench": lambda: load_routerbench(data_dir),
        "mmlu": lambda: load_routellm_golden("mmlu", data_dir),
        "gsm8k": lambda: load_routellm_golden("gsm8k", data_dir),
        "mt-bench": lambda: load_routellm_golden("mt-bench", data_dir),
    }
    if name in loaders:
        return loaders[name]()
    path = Path(name)
    if path.suffix == ".jsonl":
        return load_records_jsonl(path)
    if path.suffix == ".csv":
        columns, _ = _open_csv(path, [])
        if {"model_a", "model_b", "winner_model_a"} <= set(columns):
            return load_arena_battles(path)
        return load_correctness_table(path)
    raise DataError(f"unknown dataset {name!r}: use alpaca_eval, routerbench, mmlu, gsm8k, mt-bench or a .jsonl/.csv path")
