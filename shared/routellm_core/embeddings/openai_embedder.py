"""OpenAI embeddings (``text-embedding-3-small``, as the paper used) over plain HTTP."""

from __future__ import annotations

import os

import httpx
import numpy as np
from pydantic import SecretStr

from ..errors import InvalidInputError, RouteLLMError
from .base import Embedder


class OpenAIEmbedder(Embedder):
    """Calls ``POST {base_url}/embeddings``; the key is a ``SecretStr`` and never logged."""

    def __init__(self, model: str = "text-embedding-3-small", api_key: str | SecretStr | None = None,
                 base_url: str | None = None, timeout: float = 30.0, max_chars: int = 24000, **kwargs) -> None:
        kwargs.setdefault("batch_size", 128)
        super().__init__(**kwargs)
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not key:
            raise InvalidInputError("OpenAI embeddings need an API key (api_key= or OPENAI_API_KEY)")
        self.api_key = key if isinstance(key, SecretStr) else SecretStr(key)
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.model = model
        self.model_id = f"openai:{model}"
        self.timeout = timeout
        self.max_chars = max_chars  # the 8k-token window: truncate rather than fail
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        """One client per embedder: a new one per call would reload the CA bundle and reconnect each time."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        payload = {"model": self.model, "input": [t[: self.max_chars] or " " for t in texts]}
        headers = {"Authorization": f"Bearer {self.api_key.get_secret_value()}"}
        try:
            resp = self._http().post(f"{self.base_url}/embeddings", json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise RouteLLMError(f"embedding request to {self.base_url} failed: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise RouteLLMError(f"embedding request failed with HTTP {resp.status_code}: {resp.text[:200]}")
        data = sorted(resp.json()["data"], key=lambda d: d["index"])
        vecs = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        self.dim = vecs.shape[1]
        return vecs

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r})"
