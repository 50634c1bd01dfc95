"""A chat model that answers with a benchmark model's recorded answers (GSM8K), for offline demos.

RouteLLM's GSM8K table holds the full answers of gpt-4-1106-preview and Mixtral-8x7B to 1,319
questions. ``ReplayChatModel.from_gsm8k(model)`` replays them: real outputs, no API key. Token
counts are approximate (``chars_per_token`` characters per token) and say so in the metadata.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from routellm_core import DataError, InvalidInputError, canonical_model_name
from routellm_core.data.paper import gsm8k_table
from routellm_core.data.tables import normalize_prompt


@dataclass(frozen=True)
class GSM8KItem:
    """One GSM8K question with each model's recorded answer and whether it was correct."""

    prompt: str
    answers: dict[str, str]  # canonical model name -> answer text
    correct: dict[str, bool]


def load_gsm8k(data_dir: str | os.PathLike[str] | None = None) -> list[GSM8KItem]:
    """All rows of RouteLLM's ``gsm8k_responses.csv`` (models keyed by canonical name), via the data layer."""
    path, columns, rows = gsm8k_table(data_dir)
    models = [c[: -len("_response")] for c in columns if c.endswith("_response")]
    if not models:
        raise DataError(f"{path.name} needs '<model>_response' columns")
    return [GSM8KItem(row["prompt"],
                      {canonical_model_name(m): row[f"{m}_response"].strip() for m in models},
                      {canonical_model_name(m): str(row.get(m, "")).strip().lower() == "true" for m in models})
            for row in rows]


def approx_tokens(text: str, chars_per_token: float = 4.0) -> int:
    return max(1, math.ceil(len(text) / chars_per_token)) if text else 0


class ReplayChatModel(BaseChatModel):
    """Answers the last human message with the answer ``model`` gave to that prompt in a benchmark."""

    model_config = ConfigDict(populate_by_name=True)

    model_name: str = Field(alias="model")
    answers: dict[str, str]
    """Normalised prompt -> recorded answer."""
    chars_per_token: float = 4.0
    words_per_chunk: int = 3

    @classmethod
    def from_gsm8k(cls, model: str, data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> ReplayChatModel:
        """Replay ``model``'s GSM8K answers (``gpt-4-1106-preview`` or ``mixtral-8x7b-instruct-v0.1``)."""
        name = canonical_model_name(model)
        items = load_gsm8k(data_dir)
        known = sorted(items[0].answers) if items else []
        if name not in known:
            raise InvalidInputError(f"no recorded GSM8K answers for {model!r}; known models: {', '.join(known)}")
        answers = {normalize_prompt(item.prompt): item.answers[name] for item in items}
        return cls(model=name, answers=answers, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "replay"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "recorded_answers": len(self.answers)}

    def _answer(self, messages: list[BaseMessage]) -> tuple[str, UsageMetadata]:
        prompt = next((m.text for m in reversed(messages) if m.type == "human"), "")
        answer = self.answers.get(normalize_prompt(prompt))
        if answer is None:
            raise InvalidInputError(f"{self.model_name} has no recorded answer for this prompt "
                                    f"(replay knows {len(self.answers)} benchmark prompts): {prompt[:80]!r}")
        input_tokens = sum(approx_tokens(m.text, self.chars_per_token) for m in messages)
        output_tokens = approx_tokens(answer, self.chars_per_token)
        usage = UsageMetadata(input_tokens=input_tokens, output_tokens=output_tokens,
                              total_tokens=input_tokens + output_tokens)
        return answer, usage

    def _metadata(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_provider": "replay", "token_counts": "approximate"}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        answer, usage = self._answer(messages)
        message = AIMessage(answer, usage_metadata=usage, response_metadata=self._metadata())
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        answer, usage = self._answer(messages)
        words = re.findall(r"\S+\s*", answer) or [answer]
        pieces = ["".join(words[i : i + self.words_per_chunk]) for i in range(0, len(words), self.words_per_chunk)]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            chunk = AIMessageChunk(content=piece, usage_metadata=usage if last else None,
                                   response_metadata=self._metadata() if last else {})
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)
