"""The OpenAI embeddings client against the loopback stub server: vectors in order, one HTTP client."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core.embeddings.openai_embedder import OpenAIEmbedder
from routellm_core.errors import RouteLLMError
from routellm_core.testing.openai_server import OpenAIStubServer


def test_embeds_in_order_over_one_client():
    with OpenAIStubServer(model="embed-model") as server:
        embedder = OpenAIEmbedder(api_key="test", base_url=server.base_url, batch_size=2, cache_size=0)
        texts = ["first text", "second text", "third text"]
        vectors = embedder.embed(texts)
        assert vectors.shape[0] == 3 and vectors.shape[1] > 0
        client = embedder._client
        again = OpenAIEmbedder(api_key="test", base_url=server.base_url, cache_size=0).embed(texts[::-1])
        assert np.allclose(again[::-1], vectors)  # each text's vector, whatever its batch and position
        embedder.embed(["a fourth text"])
        assert embedder._client is client  # one connection pool, not a client (and CA bundle) per call


def test_a_dead_endpoint_is_one_clear_error():
    with OpenAIStubServer() as server:
        url = server.base_url
    with pytest.raises(RouteLLMError, match="embedding request to .* failed"):
        OpenAIEmbedder(api_key="test", base_url=url, timeout=2.0, cache_size=0).embed(["text"])
