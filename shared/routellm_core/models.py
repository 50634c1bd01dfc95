"""Canonical model names, so one model has one id across data sources.

Chatbot Arena, AlpacaEval, RouterBench and RouteLLM's tables spell the same model differently
(``gpt4_1106_preview``, ``gpt-4-1106-preview``, ``mistralai/mixtral-8x7b-chat``, ...).
"""

from __future__ import annotations

STRONG_MODEL = "gpt-4-1106-preview"
WEAK_MODEL = "mixtral-8x7b-instruct-v0.1"

_ALIASES = {
    "gpt4-1106-preview": STRONG_MODEL,
    "gpt-4-turbo-1106": STRONG_MODEL,
    "mixtral-8x7b-chat": WEAK_MODEL,
    "mixtral-8x7b-instruct": WEAK_MODEL,
    "mixtral-8x7b-instruct-v0.1-concise": WEAK_MODEL,
    "mixtral-8x7b-instruct-v0.1": WEAK_MODEL,
}


def canonical_model_name(name: str) -> str:
    """Lower-case, drop an ``org/`` prefix, use dashes, and map known aliases."""
    key = name.strip().lower().rsplit("/", 1)[-1].replace("_", "-")
    return _ALIASES.get(key, key)
