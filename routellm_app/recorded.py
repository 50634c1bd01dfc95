"""The strong and weak models' own recorded answers, for the offline Chat tab.

Arena-Hard (``arena_hard/answers/<model>.jsonl``: real Chatbot Arena prompts) and RouteLLM's GSM8K
table hold full answers of gpt-4-1106-preview and Mixtral-8x7B to the same prompts. Replaying
them through ``ReplayChatModel`` shows real outputs without an API key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from routellm_core import STRONG_MODEL, WEAK_MODEL, DataError, canonical_model_name
from routellm_core.datadir import data_file

ARENA_QUESTIONS = "arena_hard/question.jsonl"
ARENA_ANSWERS = "arena_hard/answers/{model}.jsonl"
PathLike = str | os.PathLike[str] | None


@dataclass(frozen=True)
class RecordedPrompt:
    """A prompt both models answered, and where it comes from (``arena-hard`` or ``gsm8k``)."""

    source: str
    prompt: str

    @property
    def label(self) -> str:
        first = " ".join(self.prompt.split())
        return f"[{self.source}] {first[:90]}{'...' if len(first) > 90 else ''}"


def _jsonl(path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, start=1):
            if raw.strip():
                try:
                    rows.append(json.loads(raw))
                except json.JSONDecodeError:
                    raise DataError(f"{path} line {line} is not valid JSON") from None
    return rows


def arena_hard_answers(model: str, data_dir: PathLike = None) -> dict[str, str]:
    """Arena-Hard prompt -> ``model``'s recorded answer."""
    questions = {row["question_id"]: row["prompt"] for row in _jsonl(data_file(ARENA_QUESTIONS, data_dir))}
    answers = _jsonl(data_file(ARENA_ANSWERS.format(model=canonical_model_name(model)), data_dir))
    return {questions[row["question_id"]]: row["answer"] for row in answers
            if row.get("question_id") in questions and str(row.get("answer", "")).strip()}


def recorded_answers(model: str, data_dir: PathLike = None) -> dict[str, str]:
    """Prompt -> ``model``'s recorded answer over Arena-Hard and GSM8K."""
    from langchain_routellm import load_gsm8k

    name = canonical_model_name(model)
    answers = arena_hard_answers(name, data_dir)
    answers.update({item.prompt: item.answers[name] for item in load_gsm8k(data_dir) if item.answers.get(name)})
    return answers


def recorded_prompts(data_dir: PathLike = None) -> list[RecordedPrompt]:
    """Prompts that both the strong and the weak model answered (Arena-Hard first, then GSM8K)."""
    strong, weak = (arena_hard_answers(m, data_dir) for m in (STRONG_MODEL, WEAK_MODEL))
    from langchain_routellm import load_gsm8k

    out = [RecordedPrompt("arena-hard", p) for p in strong if p in weak]
    out += [RecordedPrompt("gsm8k", item.prompt) for item in load_gsm8k(data_dir)
            if item.answers.get(STRONG_MODEL) and item.answers.get(WEAK_MODEL)]
    return out


def replay_models(data_dir: PathLike = None):
    """(strong, weak) ``ReplayChatModel``s answering with the pair's recorded answers."""
    from langchain_routellm import ReplayChatModel
    from routellm_core.data.tables import normalize_prompt

    def replay(model: str) -> ReplayChatModel:
        answers = {normalize_prompt(p): a for p, a in recorded_answers(model, data_dir).items()}
        return ReplayChatModel(model=model, answers=answers)

    return replay(STRONG_MODEL), replay(WEAK_MODEL)
