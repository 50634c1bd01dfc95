"""Test and demo helpers: a real OpenAI-compatible HTTP server on loopback."""

from .openai_server import OpenAIStubServer, tool_steps

__all__ = ["OpenAIStubServer", "tool_steps"]
