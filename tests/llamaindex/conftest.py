"""Fixtures for the LlamaIndex integration: real OpenAI-like clients on loopback servers, local MiniLM."""

from __future__ import annotations

from typing import Any

import pytest


def openai_like(server, **kwargs: Any):
    """A real LlamaIndex OpenAI-like client for a stub server (no retries: faults show at once)."""
    from llama_index.llms.openai_like import OpenAILike

    params = dict(model=server.model, api_base=server.base_url, api_key="test", is_chat_model=True,
                  is_function_calling_model=True, max_retries=0, timeout=20)
    params.update(kwargs)
    return OpenAILike(**params)


@pytest.fixture(scope="session")
def _shared_servers():
    """One strong and one weak loopback server for the whole session (starting/stopping costs ~0.4 s)."""
    from routellm_core.testing import OpenAIStubServer

    with OpenAIStubServer(model="strong-model") as strong, OpenAIStubServer(model="weak-model") as weak:
        # Their settable behaviour (responders, faults, delay) as started, restored before each test.
        initial = [{k: v for k, v in vars(s).items() if not k.startswith("_") and k not in ("requests", "port", "host")}
                   for s in (strong, weak)]
        yield (strong, weak), initial


@pytest.fixture
def openai_pair(_shared_servers):
    """The shared servers, reset to a clean state for each test: no requests seen, no faults."""
    servers, initial = _shared_servers
    for server, state in zip(servers, initial):
        server.requests.clear()
        for key, value in state.items():
            setattr(server, key, value)
    yield servers
    for server in servers:
        server.fail_mode = None


@pytest.fixture
def make_llm():
    """The ``openai_like`` factory, for tests that need other client settings."""
    return openai_like


@pytest.fixture
def llm_pair(openai_pair):
    """(strong server, weak server, strong LLM, weak LLM)."""
    strong, weak = openai_pair
    return strong, weak, openai_like(strong, context_window=16000), openai_like(weak, context_window=8000)


@pytest.fixture
def make_routed(llm_pair, small_router):
    """Build a RouteLLM over the two stub-backed LLMs and the small real router."""
    from llamaindex_routellm import RouteLLM

    _, _, strong_llm, weak_llm = llm_pair

    def build(**kwargs: Any) -> RouteLLM:
        kwargs.setdefault("threshold", 0.5)
        return RouteLLM(strong=strong_llm, weak=weak_llm, router=small_router, **kwargs)

    return build


@pytest.fixture(scope="session")
def minilm_embed():
    """LlamaIndex's HuggingFaceEmbedding pointed at the packaged all-MiniLM-L6-v2 folder (offline)."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from routellm_core.embeddings.minilm import minilm_model_dir

    return HuggingFaceEmbedding(model_name=str(minilm_model_dir()), device="cpu")
