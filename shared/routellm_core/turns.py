"""Which text of a chat is routed on: chat turns, role names, and the routed-text rule.

Every front-end turns its framework's messages into :class:`Turn` objects; the policy's
``route_on`` rule (``last_user`` by default, or the whole ``conversation``) picks the text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from .errors import InvalidInputError

RouteOn = Literal["last_user", "conversation"] | Callable[..., str]
ROUTE_MODES = ("last_user", "conversation")
ROUTE_MODE_ALIASES = {"last_human": "last_user"}
EMPTY_TEXT = "nothing to route on: the routed text is empty"
_ROLE_NAMES = {"human": "user", "ai": "assistant", "function": "tool", "developer": "system", "chatbot": "assistant",
               "model": "assistant"}


class Turn(NamedTuple):
    """One chat message as the policy sees it: a normalised role and its text (non-text parts dropped)."""

    role: str
    text: str


def normalize_role(role: Any) -> str:
    """``human``/``ai``/``MessageRole.USER``... -> ``user``/``assistant``/``system``/``tool``."""
    name = str(getattr(role, "value", role)).lower()
    return _ROLE_NAMES.get(name, name)


def check_route_on(route_on: Any) -> RouteOn:
    """A route mode name (aliases resolved) or a callable; anything else is an error naming the choices."""
    if callable(route_on):
        return route_on
    if isinstance(route_on, str):
        mode = ROUTE_MODE_ALIASES.get(route_on, route_on)
        if mode in ROUTE_MODES:
            return mode  # type: ignore[return-value]
    raise InvalidInputError(f"route_on must be 'last_user', 'conversation' or a callable, got {route_on!r}")


def conversation_text(turns: Sequence[Turn]) -> str:
    """Every message with text as ``role: text`` lines (system and tool messages included)."""
    return "\n".join(f"{t.role}: {t.text.strip()}" for t in turns if t.text and t.text.strip())


def turns_text(turns: Sequence[Turn], mode: str = "last_user") -> str:
    """The routed text of a chat: the last user message that has text, or the whole conversation.

    Returns ``""`` when there is nothing to route on; :meth:`RoutingPolicy.decide` applies the
    empty-text rule to it.
    """
    mode = ROUTE_MODE_ALIASES.get(mode, mode)
    if mode == "conversation":
        return conversation_text(turns)
    if mode != "last_user":
        raise InvalidInputError(f"route_on must be 'last_user', 'conversation' or a callable, got {mode!r}")
    for turn in reversed(turns):
        if normalize_role(turn.role) == "user" and turn.text and turn.text.strip():
            return turn.text
    return ""


def content_text(content: Any) -> str:
    """The text of an OpenAI-style ``content`` (a string, or a list of parts of which text parts count)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type", "text") == "text")
    return ""


def openai_turns(messages: Sequence[Mapping[str, Any]]) -> list[Turn]:
    """OpenAI chat ``messages`` (dicts) as turns."""
    return [Turn(normalize_role(m.get("role", "")), content_text(m.get("content"))) for m in messages]


def checked_texts(texts: Sequence[str], on_empty: str) -> list[str]:
    """The texts of one decide() call as a list: a clear error for a bare string, a non-string or
    (when ``on_empty`` is "error") an empty text."""
    if isinstance(texts, str):
        raise InvalidInputError("decide() takes a list of texts, not a single string")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(f"text {i} is {type(text).__name__}, expected str")
    if on_empty == "error" and not all(t.strip() for t in out):
        raise InvalidInputError(EMPTY_TEXT)
    return out
