"""``RouteLLMSelector``: a LlamaIndex selector that picks the strong or the weak choice by router score.

Drop-in for ``RouterQueryEngine(selector=..., query_engine_tools=[strong_tool, weak_tool])``: no
LLM call to select, the decision is a router score on the raw query. ``RouterQueryEngine`` keeps
the selection (with the decision as its ``reason``) in ``response.metadata["selector_result"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from llama_index.core.base.base_selector import BaseSelector, SelectorResult, SingleSelection
from llama_index.core.prompts.mixin import PromptDictType, PromptMixinType
from llama_index.core.schema import QueryBundle
from llama_index.core.tools.types import ToolMetadata

from routellm_core import Decision
from routellm_core.errors import InvalidInputError

from .routing import RouterSpec, announce, build_policy

Choice = Union[int, str]


class RouteLLMSelector(BaseSelector):
    """Select ``strong_choice`` when P(strong wins) >= threshold, else ``weak_choice``.

    A choice is an index into the candidates or a tool name (``ToolMetadata.name``); by default
    the first candidate is the strong side and the second the weak one.
    """

    def __init__(self, router: RouterSpec = "mf", threshold: Optional[float] = None,
                 strong_fraction: Optional[float] = None, calibration_prompts: Optional[Sequence[str]] = None,
                 strong_choice: Choice = 0, weak_choice: Choice = 1, embed_model: Any = None,
                 on_empty: str = "error", policy: Any = None) -> None:
        self.policy = build_policy(router, threshold, strong_fraction, calibration_prompts, embed_model, policy,
                                   on_empty=on_empty)
        self.strong_choice, self.weak_choice = strong_choice, weak_choice
        self.last_decision: Optional[dict[str, Any]] = None

    @property
    def threshold(self) -> float:
        return self.policy.resolved_threshold()

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """No prompts: the selection is a router score."""

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}

    @staticmethod
    def _index(choice: Choice, choices: Sequence[ToolMetadata], role: str) -> int:
        if isinstance(choice, int):
            if not 0 <= choice < len(choices):
                raise InvalidInputError(f"{role}_choice {choice} is out of range: there are {len(choices)} choices")
            return choice
        names = [c.name for c in choices]
        if choice not in names:
            raise InvalidInputError(f"{role}_choice {choice!r} is not among the tool names {names}")
        return names.index(choice)

    def _indices(self, choices: Sequence[ToolMetadata]) -> tuple[int, int]:
        return self._index(self.strong_choice, choices, "strong"), self._index(self.weak_choice, choices, "weak")

    def _result(self, choices: Sequence[ToolMetadata], indices: tuple[int, int],
                decision: Decision) -> SelectorResult:
        index = indices[0] if decision.use_strong else indices[1]
        name = choices[index].name or f"choice {index}"
        payload = announce(decision, decision.role, name, None, "selector")
        self.last_decision = payload
        prob = "n/a (no query text)" if payload["probability"] is None else f"{payload['probability']:.3f}"
        reason = (f"routellm {decision.router}: P(strong wins)={prob}, threshold={decision.threshold:.3f} "
                  f"-> {decision.role}")
        return SelectorResult(selections=[SingleSelection(index=index, reason=reason)])

    def _select(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> SelectorResult:
        indices = self._indices(choices)
        return self._result(choices, indices, self.policy.decide([query.query_str])[0])

    async def _aselect(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> SelectorResult:
        indices = self._indices(choices)
        return self._result(choices, indices, (await self.policy.adecide([query.query_str]))[0])
