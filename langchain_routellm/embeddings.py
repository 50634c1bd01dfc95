"""RouteLLMEmbeddings: routellm_core's local embedders (MiniLM by default) as a LangChain ``Embeddings``.

Lets a RAG pipeline embed documents with the same local model the routers use, offline, and shares
the process-wide embedder instance (and its cache) with them.
"""

from __future__ import annotations

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict


class RouteLLMEmbeddings(BaseModel, Embeddings):
    """``spec``: ``"minilm"`` (default, local all-MiniLM-L6-v2), ``"hf:/path/to/encoder"`` or ``"openai:<model>"``."""

    model_config = ConfigDict(frozen=True)

    spec: str = "minilm"

    @property
    def model_id(self) -> str:
        return self.spec

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        from routellm_core.embeddings import get_embedder

        if not texts:
            return []
        return get_embedder(self.spec).embed(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
