"""Tools on a routed chat model: bound once on the router, handed to whichever model answers.

``bind_tools`` cannot bind on the candidates up front (which one answers is decided per call), so
the routed model binds the tools as call kwargs, and each call pops them and binds them on the
chosen model with that model's own ``bind_tools``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.utils.function_calling import convert_to_openai_tool

TOOL_KWARGS = "routellm_tool_kwargs"


def tool_binding(tools: Sequence[Any], tool_choice: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call kwargs ``bind_tools`` binds on the routed model."""
    bound: dict[str, Any] = {"tools": [t if isinstance(t, dict) else convert_to_openai_tool(t) for t in tools]}
    if tool_choice is not None:
        bound["tool_choice"] = tool_choice
    if kwargs:
        bound[TOOL_KWARGS] = kwargs
    return bound


def pop_tool_request(kwargs: dict[str, Any]) -> tuple[list[Any] | None, dict[str, Any]]:
    """Take the bound tools out of a call's kwargs: (tools or None, kwargs for the chosen model's bind_tools)."""
    tools = kwargs.pop("tools", None)
    tool_kwargs = dict(kwargs.pop(TOOL_KWARGS, None) or {})
    if (choice := kwargs.pop("tool_choice", None)) is not None:
        tool_kwargs["tool_choice"] = choice
    return tools, tool_kwargs
