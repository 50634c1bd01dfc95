"""One embedder interface: batching, an in-memory LRU cache and an optional disk cache.

Routers call ``embedder.embed(texts)`` and get an L2-normalised float32 array ``(n, dim)``.
Subclasses implement only ``_embed_batch``; caching and batching live here once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError


def text_key(model_id: str, text: str) -> str:
    """Stable cache key for one text under one embedding model."""
    return hashlib.sha256(f"{model_id}\x00{text}".encode()).hexdigest()


class Embedder(ABC):
    """Turns texts into unit-norm vectors, caching what it has seen."""

    model_id: str = "embedder"
    dim: int = 0

    def __init__(self, batch_size: int = 64, cache_size: int = 4096, disk_cache_dir: str | os.PathLike[str] | None = None,
                 show_progress: bool = False) -> None:
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.disk_cache_dir = Path(disk_cache_dir) if disk_cache_dir else None
        self.show_progress = show_progress
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lru_lock = threading.Lock()  # servers embed from several threads; OrderedDict is not thread-safe

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed one batch (no caching); may return unnormalised vectors."""

    def embed(self, texts: Sequence[str], show_progress: bool | None = None) -> np.ndarray:
        """Embed texts, normalised, using the caches; the result keeps the input order."""
        if isinstance(texts, str):
            raise InvalidInputError("embed() takes a list of texts, not a single string")
        texts = list(texts)
        keys = [text_key(self.model_id, t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lru_lock:
            for key in keys:
                vec = self._lru.get(key)
                if vec is not None:
                    self._lru.move_to_end(key)
                    found[key] = vec
        missing_keys = list(dict.fromkeys(k for k in keys if k not in found))
        if missing_keys and self.disk_cache_dir is not None:
            found.update(self._disk_get(missing_keys))
            missing_keys = [k for k in missing_keys if k not in found]
        if missing_keys:
            first_text: dict[str, str] = {}
            for key, text in zip(keys, texts):
                first_text.setdefault(key, text)
            todo = [first_text[k] for k in missing_keys]
            vectors = self._embed_all(todo, self.show_progress if show_progress is None else show_progress)
            new = dict(zip(missing_keys, vectors))
            found.update(new)
            if self.disk_cache_dir is not None:
                self._disk_put(new)
        with self._lru_lock:
            for key in keys:
                self._remember(key, found[key])
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def _embed_all(self, texts: list[str], progress: bool) -> np.ndarray:
        order = np.argsort([len(t) for t in texts])  # similar lengths per batch: less padding
        out = np.empty((len(texts), self.dim), dtype=np.float32) if self.dim else None
        starts = range(0, len(texts), self.batch_size)
        bar = None
        if progress and len(starts) > 1:  # a tqdm object costs ~50 us: build it only for long work
            from ..progress import progress as progress_bar

            bar = progress_bar(total=len(starts), desc=f"embedding ({self.model_id})", unit="batch")
        for start in starts:
            idx = order[start : start + self.batch_size]
            vecs = np.asarray(self._embed_batch([texts[i] for i in idx]), dtype=np.float32)
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            if out is None:
                self.dim = int(vecs.shape[1])
                out = np.empty((len(texts), self.dim), dtype=np.float32)
            out[idx] = vecs
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        return out if out is not None else np.zeros((0, self.dim), dtype=np.float32)

    def _remember(self, key: str, vec: np.ndarray) -> None:
        """Insert into the LRU (the caller holds ``_lru_lock``)."""
        if self.cache_size <= 0:
            return
        self._lru[key] = vec
        self._lru.move_to_end(key)
        while len(self._lru) > self.cache_size:
            self._lru.popitem(last=False)

    # Disk cache: pairs of .npy files (fixed-width key strings, float32 vectors), loaded into memory
    # once per process. Only bulk work (>= ``disk_min_batch`` new texts) is written, so serving
    # single prompts never litters the cache with tiny files. No pickle anywhere.
    disk_min_batch = 16

    def _disk_dir(self) -> Path:
        assert self.disk_cache_dir is not None
        path = self.disk_cache_dir / hashlib.sha256(self.model_id.encode()).hexdigest()[:16]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _disk_index(self) -> dict[str, np.ndarray]:
        if getattr(self, "_disk", None) is None:
            self._disk: dict[str, np.ndarray] | None = {}
            for index in sorted(self._disk_dir().glob("*.keys.npy")):
                vec_file = index.with_name(index.name.replace(".keys.npy", ".vecs.npy"))
                try:
                    names = np.load(index, allow_pickle=False)
                    vecs = np.load(vec_file, allow_pickle=False)
                except (OSError, ValueError):
                    continue  # a torn or foreign file: ignore it, the texts are simply embedded again
                if len(names) == len(vecs):
                    self._disk.update(zip(names.tolist(), vecs))
        return self._disk  # type: ignore[return-value]

    def _disk_get(self, keys: list[str]) -> dict[str, np.ndarray]:
        index = self._disk_index()
        return {k: index[k] for k in keys if k in index}

    def _disk_put(self, new: dict[str, np.ndarray]) -> None:
        if len(new) < self.disk_min_batch:
            return
        folder = self._disk_dir()
        stem = hashlib.sha256("".join(sorted(new)).encode()).hexdigest()[:16]
        keys = np.array(list(new), dtype="U64")
        vecs = np.stack(list(new.values())).astype(np.float32)
        for suffix, array in (("vecs", vecs), ("keys", keys)):  # keys last: a file pair is complete once keys exist
            tmp = folder / f".{stem}.{suffix}.tmp.npy"
            np.save(tmp, array, allow_pickle=False)
            tmp.replace(folder / f"{stem}.{suffix}.npy")
        self._disk_index().update(new)


class CallableEmbedder(Embedder):
    """Wraps any ``f(list[str]) -> array-like (n, dim)``, e.g. a LangChain/LlamaIndex embedding."""

    def __init__(self, fn, model_id: str = "callable", dim: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fn = fn
        self.model_id = model_id
        self.dim = dim

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.fn(texts), dtype=np.float32)
