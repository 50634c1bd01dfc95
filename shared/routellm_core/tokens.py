"""Token counts for prices: the model's own tokenizer where it is on this machine, a local estimate otherwise.

- OpenAI-family models (``gpt-*``, ``o1``/``o3``/``o4``..., ``text-embedding-*``): tiktoken's encoding for the
  model, when tiktoken is installed *and* that encoding is already in its local cache (tiktoken
  downloads encodings on first use; the decision layer never reaches the network).
- every other model, or when that is unavailable: the MiniLM WordPiece tokenizer that ships with
  the default embedder (an approximation of each API's own count);
- without it: words and punctuation marks (``\\w+|[^\\w\\s]``), the crudest estimate.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_WORD = re.compile(r"\w+|[^\w\s]")
_OPENAI = re.compile(r"^(gpt-|o\d|text-embedding-|chatgpt-|davinci|babbage)", re.IGNORECASE)


@lru_cache(maxsize=1)
def _wordpiece() -> Any:
    try:
        from tokenizers import Tokenizer

        from .embeddings.minilm import minilm_model_dir

        tok = Tokenizer.from_file(str(minilm_model_dir() / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - no local tokenizer: the word count estimate
        return None
    tok.no_truncation()
    tok.no_padding()
    return tok


def _tiktoken_cached(url: str) -> bool:
    """Whether tiktoken would read ``url`` from its cache (so loading it makes no network call)."""
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or \
        os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return (Path(cache) / hashlib.sha1(url.encode()).hexdigest()).is_file()


@lru_cache(maxsize=16)
def _tiktoken(model: str) -> Any:
    if not _OPENAI.match(model):
        return None
    try:
        import tiktoken
        import tiktoken_ext.openai_public as public

        name = tiktoken.encoding_name_for_model(model)
        constructor = getattr(public, name, None)
        if constructor is None:
            return None
        spec = constructor()
        url = next((v for v in _urls(public, name)), None)
        if url is None or not _tiktoken_cached(url):
            return None
        return tiktoken.Encoding(**spec)
    except Exception:  # noqa: BLE001 - not installed, unknown model: the local estimate
        return None


def _urls(module: Any, name: str) -> list[str]:
    """The encoding files an encoding constructor reads (from its source: the cache check needs them)."""
    import inspect

    return re.findall(r'"(https://[^"]+\.tiktoken)"', inspect.getsource(getattr(module, name)))


def tokenizer_name(model: str | None = None) -> str:
    """Which count :func:`count_tokens` uses for ``model``: ``tiktoken``, ``wordpiece`` or ``words``."""
    if model and _tiktoken(model) is not None:
        return "tiktoken"
    return "wordpiece" if _wordpiece() is not None else "words"


def count_tokens(texts: Sequence[str], model: str | None = None) -> np.ndarray:
    """Token count of each text for ``model`` (see the module docstring for which tokenizer counts)."""
    texts = list(texts)
    encoding = _tiktoken(model) if model else None
    if encoding is not None:
        return np.array([len(ids) for ids in encoding.encode_ordinary_batch(texts)], dtype=np.int64)
    tok = _wordpiece()
    if tok is None:
        return np.array([len(_WORD.findall(t)) for t in texts], dtype=np.int64)
    out = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), 1024):
        batch = tok.encode_batch(texts[start : start + 1024], add_special_tokens=False)
        out[start : start + len(batch)] = [len(e.ids) for e in batch]
    return out
