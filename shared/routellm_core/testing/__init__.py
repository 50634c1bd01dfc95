"""Test and demo helpers: a real OpenAI-compatible HTTP server on loopback."""

from .openai_server import OpenAIStubServer

__all__ = ["OpenAIStubServer"]
