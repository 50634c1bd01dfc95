"""The Chat tab's strong and weak chat models: real OpenAI-compatible models, or recorded answers.

With ``OPENAI_API_KEY`` set the chat calls ``ROUTELLM_STRONG_MODEL`` / ``ROUTELLM_WEAK_MODEL``
(default gpt-4o / gpt-4o-mini) at ``OPENAI_BASE_URL``; without it, it replays the answers
gpt-4-1106-preview and Mixtral-8x7B gave to the Arena-Hard and GSM8K prompts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import services


@dataclass(frozen=True)
class ChatBackend:
    strong: Any
    weak: Any
    online: bool

    def describe(self) -> str:
        if self.online:
            url = os.environ.get("OPENAI_BASE_URL")
            return (f"Live: routing between {self.strong.model_name} (strong) and {self.weak.model_name} (weak)"
                    + (f" at {url}." if url else "."))
        return ("Offline: no OPENAI_API_KEY, so the chat replays the answers gpt-4-1106-preview (strong) and "
                "Mixtral-8x7B (weak) gave to real Arena-Hard and GSM8K prompts. Pick one of those prompts; "
                "token counts are approximate.")


def backend() -> ChatBackend:
    """Real models when an API key is set, else the recorded answers."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        base_url = os.environ.get("OPENAI_BASE_URL") or None
        strong = ChatOpenAI(model=os.environ.get("ROUTELLM_STRONG_MODEL", "gpt-4o"), base_url=base_url)
        weak = ChatOpenAI(model=os.environ.get("ROUTELLM_WEAK_MODEL", "gpt-4o-mini"), base_url=base_url)
        return ChatBackend(strong, weak, True)
    strong, weak = services.replay_models(services.data_dir())
    return ChatBackend(strong, weak, False)
