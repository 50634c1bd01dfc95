"""Read an uploaded prompt file (CSV with a ``prompt`` column, JSONL, or plain text) into prompts.

Every problem becomes an ``InvalidInputError`` naming the file and the line or column, so the
page can show one clear sentence instead of a traceback.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import PurePath

from routellm_core import InvalidInputError

PROMPT_COLUMN = "prompt"
SUFFIXES = ("csv", "jsonl", "txt")
MAX_PROMPTS = 20_000


def _text(name: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{name} is not readable as UTF-8 text (byte {exc.start}); "
                                "upload a CSV, JSONL or text file") from None
    if not text.strip():
        raise InvalidInputError(f"{name} is empty")
    return text


def _from_csv(name: str, text: str) -> list[str]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        columns = [c.strip() for c in reader.fieldnames or []]
        match = next((c for c in reader.fieldnames or [] if c.strip().lower() == PROMPT_COLUMN), None)
        if match is None:
            raise InvalidInputError(f"{name} has no '{PROMPT_COLUMN}' column (columns: {', '.join(columns) or 'none'})")
        prompts = []
        for line, row in enumerate(reader, start=2):
            value = row.get(match)
            if value is None or not value.strip():
                raise InvalidInputError(f"{name} line {line}: the '{PROMPT_COLUMN}' cell is empty")
            prompts.append(value)
    except csv.Error as exc:
        raise InvalidInputError(f"{name} is not a readable CSV file ({exc})") from None
    return prompts


def _from_jsonl(name: str, text: str) -> list[str]:
    prompts = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{name} line {line} is not valid JSON ({exc.msg})") from None
        if isinstance(value, dict):
            if PROMPT_COLUMN not in value:
                raise InvalidInputError(f"{name} line {line} has no '{PROMPT_COLUMN}' field "
                                        f"(fields: {', '.join(map(str, value)) or 'none'})")
            value = value[PROMPT_COLUMN]
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(f"{name} line {line}: the prompt must be a non-empty string")
        prompts.append(value)
    return prompts


def read_prompt_file(name: str, data: bytes) -> list[str]:
    """The prompts in an uploaded file; the format follows the file's suffix (.csv, .jsonl, .txt)."""
    suffix = PurePath(name).suffix.lower().lstrip(".")
    if suffix not in SUFFIXES:
        raise InvalidInputError(f"{name}: upload a .csv (with a '{PROMPT_COLUMN}' column), .jsonl or .txt file")
    text = _text(name, data)
    if suffix == "csv":
        prompts = _from_csv(name, text)
    elif suffix == "jsonl":
        prompts = _from_jsonl(name, text)
    else:
        prompts = [line for line in text.splitlines() if line.strip()]
    if not prompts:
        raise InvalidInputError(f"{name} holds no prompts")
    if len(prompts) > MAX_PROMPTS:
        raise InvalidInputError(f"{name} holds {len(prompts):,} prompts; the demo routes at most {MAX_PROMPTS:,}")
    return prompts
