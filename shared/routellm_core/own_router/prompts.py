"""Reading the user's traffic: JSONL, CSV, one prompt per line, LangSmith run exports, the server's request log.

Every format becomes :class:`PromptItem` (the routed text, the chat messages to send, an optional
reference answer, a stable key for resuming). A malformed row is a :class:`DataError` naming the
file and line, never a traceback.

- JSONL: ``prompt`` (or ``input``, ``question``, ``instruction``, ``text``, ``query``) or OpenAI
  ``messages``; optional ``reference`` (or ``reference_answer``, ``answer``), optional ``id``.
- Server request log (JSONL): one OpenAI chat request body per line (``messages``, anything else is
  ignored), optionally under ``request``; the routed text is the last user message.
- LangSmith run export (JSONL): ``inputs`` holding ``messages`` (LangChain-serialised or OpenAI
  dicts, possibly a list of lists), ``prompts`` or one of the prompt keys above; ``id`` is the run id.
- CSV: a ``prompt`` column (or one of the keys above), optional ``reference`` and ``id`` columns.
- Anything else: one prompt per non-empty line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

PathLike = str | os.PathLike[str]
PROMPT_KEYS = ("prompt", "input", "question", "instruction", "text", "query")
REFERENCE_KEYS = ("reference", "reference_answer", "answer")
_ROLE_OF_TYPE = {"human": "user", "ai": "assistant", "system": "system", "humanmessage": "user",
                 "aimessage": "assistant", "systemmessage": "system"}


@dataclass(frozen=True)
class PromptItem:
    """One prompt of the user's traffic."""

    prompt: str
    messages: tuple[dict[str, str], ...] = ()
    reference: str | None = None
    key: str = ""
    where: str = ""  # "file line N", for error rows
    extra: dict[str, Any] = field(default_factory=dict)

    def chat(self) -> list[dict[str, str]]:
        """The messages to send to the strong and weak models (the prompt alone when none were given)."""
        return [dict(m) for m in self.messages] or [{"role": "user", "content": self.prompt}]


def item_key(prompt: str, reference: str | None = None) -> str:
    """A stable key for one prompt (and its reference): what a rerun uses to skip labelled prompts."""
    return hashlib.sha256(json.dumps([prompt, reference or ""]).encode()).hexdigest()[:20]


def read_prompts(path: PathLike) -> list[PromptItem]:
    """The prompts in ``path``, de-duplicated by key (first occurrence kept)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"prompts file not found: {path}")
    if path.suffix.lower() == ".csv":
        items = list(_read_csv(path))
    elif path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        items = list(_read_jsonl(path))
    else:
        items = [_item(line.strip(), None, (), None, f"{path.name} line {n}")
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    if not items:
        raise DataError(f"{path.name}: no prompts (empty file)")
    seen: dict[str, PromptItem] = {}
    for item in items:
        seen.setdefault(item.key, item)
    return list(seen.values())


def _item(prompt: str, reference: str | None, messages: tuple, key: str | None, where: str) -> PromptItem:
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError(f"{where}: empty prompt")
    if reference is not None and not isinstance(reference, str):
        reference = json.dumps(reference)
    return PromptItem(prompt, messages, reference or None, str(key) if key else item_key(prompt, reference), where)


def _read_csv(path: Path):
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        column = next((c for c in PROMPT_KEYS if c in columns), None)
        if column is None:
            raise DataError(f"{path.name} line 1: no prompt column (want one of {', '.join(PROMPT_KEYS)}; has "
                            f"{', '.join(columns[:10]) or 'nothing'})")
        ref = next((c for c in REFERENCE_KEYS if c in columns), None)
        for n, row in enumerate(reader, 2):
            yield _item(row.get(column) or "", (row.get(ref) or None) if ref else None, (), row.get("id") or None,
                        f"{path.name} line {n}")


def _read_jsonl(path: Path):
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path.name} line {n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
            if isinstance(row, str):
                yield _item(row, None, (), None, where)
                continue
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object or string")
            yield _from_row(row, where)


def _from_row(row: dict, where: str) -> PromptItem:
    body: dict = row["request"] if isinstance(row.get("request"), dict) else row
    inputs: dict = body["inputs"] if isinstance(body.get("inputs"), dict) else body  # LangSmith run export
    reference = next((body[k] for k in REFERENCE_KEYS if body.get(k)), None)
    if reference is None and isinstance(body.get("reference_outputs"), dict):
        reference = next((body["reference_outputs"][k] for k in ("output", *REFERENCE_KEYS)
                          if body["reference_outputs"].get(k)), None)
    key = row.get("id") or row.get("request_id") or row.get("decision_id")
    messages = inputs.get("messages")
    if messages is None and isinstance(inputs.get("prompts"), list) and inputs["prompts"]:
        return _item(str(inputs["prompts"][0]), reference, (), key, where)
    if messages is not None:
        chat = _messages(messages, where)
        users = [m["content"] for m in chat if m["role"] == "user"]
        if not users:
            raise DataError(f"{where}: messages hold no user message")
        return _item(users[-1], reference, tuple(chat), key, where)
    for k in PROMPT_KEYS:
        if k in inputs:
            value = inputs[k]
            if isinstance(value, list):
                return _item(users_last(_messages(value, where), where), reference, tuple(_messages(value, where)),
                             key, where)
            return _item(value if isinstance(value, str) else json.dumps(value), reference, (), key, where)
    raise DataError(f"{where}: no prompt field (want one of {', '.join(PROMPT_KEYS)} or messages)")


def users_last(chat: list[dict[str, str]], where: str) -> str:
    users = [m["content"] for m in chat if m["role"] == "user"]
    if not users:
        raise DataError(f"{where}: messages hold no user message")
    return users[-1]


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    """OpenAI dicts or LangChain-serialised messages (``type``/``data`` or ``lc`` kwargs) -> role/content dicts."""
    if isinstance(value, list) and value and isinstance(value[0], list):  # LangSmith: one list per generation
        value = value[0]
    if not isinstance(value, list):
        raise DataError(f"{where}: messages must be a list")
    out = []
    for m in value:
        if isinstance(m, str):
            out.append({"role": "user", "content": m})
            continue
        if not isinstance(m, dict):
            raise DataError(f"{where}: a message must be an object")
        data = m.get("data") or m.get("kwargs") or m
        kinds = (m.get("type"), data.get("type"), (m.get("id") or [""])[-1])  # LangChain: type, or lc class name
        role = m.get("role") or data.get("role") or next(
            (_ROLE_OF_TYPE[str(k).lower()] for k in kinds if str(k).lower() in _ROLE_OF_TYPE), None)
        content = data.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if role is None or not isinstance(content, str):
            raise DataError(f"{where}: cannot read a message (want role and content)")
        out.append({"role": role, "content": content})
    return out
