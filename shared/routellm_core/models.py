"""Canonical model names, so one model has one id across data sources.

Chatbot Arena, Arena-Hard, AlpacaEval, RouterBench and RouteLLM's tables spell the same model
differently (``gpt4_1106_preview``, ``gpt-4-1106-preview``, ``mistralai/mixtral-8x7b-chat``,
``mistralai__Mistral-Large-Instruct-2407``, ``claude-v2`` ...). Distinct versions stay distinct:
only spellings of one model are merged.
"""

from __future__ import annotations

from datetime import UTC, datetime

STRONG_MODEL = "gpt-4-1106-preview"
WEAK_MODEL = "mixtral-8x7b-instruct-v0.1"

_ALIASES = {
    "gpt4-1106-preview": STRONG_MODEL,
    "gpt-4-turbo-1106": STRONG_MODEL,
    "mixtral-8x7b-chat": WEAK_MODEL,
    "mixtral-8x7b-instruct": WEAK_MODEL,
    "mixtral-8x7b-instruct-v0.1-concise": WEAK_MODEL,
    "mixtral-8x7b-instruct-v0.1": WEAK_MODEL,
    # AlpacaEval's spellings
    "gpt4-0314": "gpt-4-0314",
    "llama-2-7b-chat-hf": "llama-2-7b-chat",
    "llama-2-13b-chat-hf": "llama-2-13b-chat",
    "llama-2-70b-chat-hf": "llama-2-70b-chat",
    "claude-instant-1.2": "claude-instant-1",
    # RouterBench's spellings
    "claude-v1": "claude-1",
    "claude-v2": "claude-2",
    "claude-instant-v1": "claude-instant-1",
    "code-llama-instruct-34b-chat": "codellama-34b-instruct",
    "mistral-7b-chat": "mistral-7b-instruct",
    "wizardlm-13b-v1.2": "wizardlm-13b",
    # Arena-Hard's spellings (the two judges' files name the same model differently)
    "mistral-large-instruct-2407": "mistral-large-2407",
    "llama3-1-70b": "llama-3.1-70b-instruct",
    "llama3-1-70b-awq4": "llama-3.1-70b-instruct-awq4",
    "llama3-1-70b-awq-int4": "llama-3.1-70b-instruct-awq-int4",
    "llama3-1-70b-fp8": "llama-3.1-70b-instruct-fp8",
    "llama3-1-70b-fp8-1": "llama-3.1-70b-instruct-fp8-1",
    "llama3-1-70b-fp8-2": "llama-3.1-70b-instruct-fp8-2",
}

# Chatbot Arena (2023) shows undated names; OpenAI moved them to the 0613 snapshots on 2023-06-27.
_DATED = {"gpt-4": ("gpt-4-0314", "gpt-4-0613"), "gpt-3.5-turbo": ("gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613")}
_SNAPSHOT_SWITCH = datetime(2023, 6, 27, tzinfo=UTC).timestamp()


def canonical_model_name(name: str) -> str:
    """Lower-case, drop an ``org/`` (or ``org__``) prefix, use dashes, and map known aliases."""
    key = name.strip().lower().rsplit("/", 1)[-1].rsplit("__", 1)[-1].replace("_", "-")
    return _ALIASES.get(key, key)


def dated_model_name(name: str, timestamp: float | None) -> str:
    """The canonical name, resolving Chatbot Arena's undated ``gpt-4`` / ``gpt-3.5-turbo`` by the battle's date."""
    key = canonical_model_name(name)
    if key in _DATED and timestamp is not None:
        before, after = _DATED[key]
        return before if float(timestamp) < _SNAPSHOT_SWITCH else after
    return key
