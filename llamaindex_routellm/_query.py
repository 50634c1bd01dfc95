"""Route prompt-template calls on their raw ``query_str``, not on the prompt stuffed with context.

Query engines and response synthesizers call ``predict``/``stream``/``structured_predict`` with a
template whose ``query_str`` is the user's question; while such a call runs, the question is kept
in a context variable and :meth:`RouteLLM.routed_text` uses it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any, Optional

ROUTING_QUERY: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("routellm_query", default=None)
_EMPTY = object()


def template_query(prompt: Any, prompt_args: dict[str, Any]) -> Optional[str]:
    """The ``query_str`` of a template call: a format argument, or bound earlier with ``partial_format``."""
    query = prompt_args.get("query_str")
    if query is None:
        query = (getattr(prompt, "kwargs", None) or {}).get("query_str")
    return query if isinstance(query, str) and query.strip() else None


@contextlib.contextmanager
def query_scope(query: Optional[str]) -> Iterator[None]:
    token = ROUTING_QUERY.set(query)
    try:
        yield
    finally:
        ROUTING_QUERY.reset(token)


def _scoped_iter(items: Iterator[Any], query: Optional[str]) -> Iterator[Any]:
    """Iterate with the routing query set only while the inner generator runs (never across yields)."""
    while True:
        with query_scope(query):
            item = next(items, _EMPTY)
        if item is _EMPTY:
            return
        yield item


async def _scoped_aiter(items: AsyncIterator[Any], query: Optional[str]) -> AsyncIterator[Any]:
    while True:
        with query_scope(query):
            item = await anext(items, _EMPTY)
        if item is _EMPTY:
            return
        yield item


class QueryRoutedPredict:
    """``predict``-style methods of an LLM, run with their template's ``query_str`` as the routing query."""

    def predict(self, prompt: Any, **prompt_args: Any) -> str:
        with query_scope(template_query(prompt, prompt_args)):
            return super().predict(prompt, **prompt_args)  # type: ignore[misc]

    async def apredict(self, prompt: Any, **prompt_args: Any) -> str:
        with query_scope(template_query(prompt, prompt_args)):
            return await super().apredict(prompt, **prompt_args)  # type: ignore[misc]

    def stream(self, prompt: Any, **prompt_args: Any) -> Any:
        with query_scope(template_query(prompt, prompt_args)):  # stream_chat routes before returning
            return super().stream(prompt, **prompt_args)  # type: ignore[misc]

    async def astream(self, prompt: Any, **prompt_args: Any) -> Any:
        with query_scope(template_query(prompt, prompt_args)):
            return await super().astream(prompt, **prompt_args)  # type: ignore[misc]

    def structured_predict(self, output_cls: Any, prompt: Any, llm_kwargs: Optional[dict[str, Any]] = None,
                           **prompt_args: Any) -> Any:
        with query_scope(template_query(prompt, prompt_args)):
            return super().structured_predict(output_cls, prompt, llm_kwargs=llm_kwargs,  # type: ignore[misc]
                                              **prompt_args)

    async def astructured_predict(self, output_cls: Any, prompt: Any, llm_kwargs: Optional[dict[str, Any]] = None,
                                  **prompt_args: Any) -> Any:
        with query_scope(template_query(prompt, prompt_args)):
            return await super().astructured_predict(output_cls, prompt, llm_kwargs=llm_kwargs,  # type: ignore[misc]
                                                     **prompt_args)

    def stream_structured_predict(self, output_cls: Any, prompt: Any, llm_kwargs: Optional[dict[str, Any]] = None,
                                  **prompt_args: Any) -> Any:
        query = template_query(prompt, prompt_args)
        with query_scope(query):
            items = super().stream_structured_predict(output_cls, prompt, llm_kwargs=llm_kwargs,  # type: ignore[misc]
                                                      **prompt_args)
        return _scoped_iter(items, query)

    async def astream_structured_predict(self, output_cls: Any, prompt: Any,
                                         llm_kwargs: Optional[dict[str, Any]] = None, **prompt_args: Any) -> Any:
        query = template_query(prompt, prompt_args)
        with query_scope(query):
            items = await super().astream_structured_predict(output_cls, prompt,  # type: ignore[misc]
                                                             llm_kwargs=llm_kwargs, **prompt_args)
        return _scoped_aiter(items, query)
