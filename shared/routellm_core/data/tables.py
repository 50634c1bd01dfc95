"""Readers for the data's table formats (CSV, JSONL) and the text rules shared by every source.

Every reader raises :class:`DataError` naming the file (and the line, for a malformed row).
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import DataError

csv.field_size_limit(sys.maxsize)

PathLike = str | os.PathLike[str]
_SPACE = re.compile(r"\s+")


def normalize_prompt(text: str) -> str:
    """Case- and whitespace-insensitive form of a prompt: the key for exact-duplicate matching."""
    return _SPACE.sub(" ", text).strip().lower()


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


def _existing(path: PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file missing: {path}")
    return path


def csv_columns(path: PathLike) -> list[str]:
    """The header of a CSV file."""
    with _existing(path).open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])


def read_csv(path: PathLike, required: Sequence[str] = ()) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of a CSV file; a missing file or column is a :class:`DataError`."""
    path = _existing(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"{path.name} is missing column(s) {', '.join(missing)} (has {', '.join(columns[:12])})")
    return columns, rows


def iter_jsonl(path: PathLike, required: Sequence[str] = ()) -> Iterator[tuple[int, dict]]:
    """(line number, object) per non-empty line; bad JSON or a missing field names the file and line."""
    path = _existing(path)
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path.name} line {line_no}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path.name} line {line_no}: expected a JSON object")
            missing = [k for k in required if k not in row]
            if missing:
                raise DataError(f"{path.name} line {line_no}: missing field(s) {', '.join(missing)}")
            yield line_no, row


def read_jsonl(path: PathLike, required: Sequence[str] = ()) -> list[dict]:
    """Every object of a JSONL file (see :func:`iter_jsonl`)."""
    return [row for _, row in iter_jsonl(path, required)]


def correctness(value: str | None, where: str) -> float | None:
    """1.0 / 0.0 for a correctness cell (True/False/1/0), None when empty (that model has no result)."""
    v = (value or "").strip().lower()
    if v in {"", "nan", "none"}:
        return None
    if v in {"true", "1", "1.0", "yes"}:
        return 1.0
    if v in {"false", "0", "0.0", "no"}:
        return 0.0
    try:
        return float(v)
    except ValueError:
        raise DataError(f"{where}: correctness value {value!r} is not 0/1 or True/False") from None


def is_binary_column(rows: Sequence[dict[str, str]], column: str) -> bool:
    """Whether a column holds only 0/1 (True/False) values: a model's correctness column."""
    seen = {(r.get(column) or "").strip().lower() for r in rows} - {"", "nan"}
    return bool(seen) and seen <= {"true", "false", "0", "1", "0.0", "1.0"}
