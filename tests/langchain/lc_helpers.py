"""Helpers shared by the LangChain tests (imported as a plain module: tests/ has no packages)."""

from __future__ import annotations

from typing import Any


def chat_openai(server, **kwargs: Any):
    """A real ChatOpenAI client talking HTTP to ``server``.

    Each client gets its own httpx clients: langchain-openai otherwise shares one cached async
    client per base URL, and pytest-asyncio gives every test a new event loop, so pooled
    connections from a closed loop would be reused against the session-wide servers.
    """
    import httpx
    from langchain_openai import ChatOpenAI

    params = {"model": server.model, "base_url": server.base_url, "api_key": "test", "max_retries": 0,
              "stream_usage": True, "timeout": 30, "http_client": httpx.Client(timeout=30),
              "http_async_client": httpx.AsyncClient(timeout=30)}
    return ChatOpenAI(**{**params, **kwargs})


class CountingRouter:
    """Builds a Router that delegates to a real router and records every ``predict_proba`` batch."""

    def __new__(cls, inner, delay: float = 0.0):
        import threading
        import time

        from routellm_core import Router

        class _Counting(Router):
            name = inner.name

            def __init__(self) -> None:
                self.calls: list[list[str]] = []
                self.threads: list[int] = []

            def _predict(self, prompts: list[str]):
                self.calls.append(list(prompts))
                self.threads.append(threading.get_ident())
                if delay:
                    time.sleep(delay)
                return inner.predict_proba(prompts)

        return _Counting()


def served_by(server) -> list[str]:
    """The last user texts a stub server received, in order."""
    from routellm_core.testing.openai_server import OpenAIStubServer

    return [OpenAIStubServer._last_user_text(body) for body in server.requests]
