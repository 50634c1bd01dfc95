"""On-disk cache of router scores per (router checkpoint hash, benchmark content hash).

Scores are ``.npy`` files read with ``allow_pickle=False`` next to a ``.json`` record of what
produced them; nothing is ever pickled. A router's key hashes its checkpoint files and its
parameters, so retraining or changing the strong/weak pair invalidates the cached scores.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..datadir import default_cache_dir
from ..errors import RouteLLMError
from ..routers.base import Router

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def default_eval_cache_dir() -> Path:
    """``$ROUTELLM_CACHE_DIR/eval`` (scores, token counts, embeddings of benchmark prompts)."""
    return default_cache_dir() / "eval"


def directory_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 over every file of a checkpoint directory (relative names and contents)."""
    root = Path(path)
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for file in files:
        h.update(str(file.relative_to(root) if file != root else file.name).encode() + b"\x00")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def router_fingerprint(router: Router, checkpoint: str | os.PathLike[str] | None = None) -> str | None:
    """A stable key for a router's scores: its class, parameters and checkpoint contents.

    ``checkpoint`` is the directory the router was loaded from, if known; otherwise the router is
    saved to a temporary directory and that is hashed. Returns None for routers that cannot be
    saved (their scores are then not cached) and for untrained baselines (cheap to recompute).
    """
    if not getattr(router, "trainable", True):
        return None
    params = json.dumps(router.get_params(), sort_keys=True, default=str)
    if checkpoint is not None and Path(checkpoint).exists():
        content = directory_hash(checkpoint)
    else:
        try:
            with tempfile.TemporaryDirectory(prefix="routellm-fp-") as tmp:
                router.save(Path(tmp) / "ckpt")
                content = directory_hash(Path(tmp) / "ckpt")
        except (RouteLLMError, NotImplementedError, AttributeError, TypeError):
            return None
    return hashlib.sha256(f"{type(router).__module__}.{type(router).__qualname__}\x00{params}\x00{content}".encode()).hexdigest()


class ScoreCache:
    """Router scores and other per-benchmark arrays under ``root`` (default ``$ROUTELLM_CACHE_DIR/eval``)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_eval_cache_dir()

    def _path(self, benchmark_name: str, benchmark_hash: str, label: str, key: str) -> Path:
        folder = self.root / "scores" / f"{_SAFE.sub('_', benchmark_name)}-{benchmark_hash[:16]}"
        return folder / f"{_SAFE.sub('_', label)[:60]}-{key[:20]}.npy"

    def get(self, benchmark_name: str, benchmark_hash: str, label: str, key: str, n: int | None = None) -> np.ndarray | None:
        """Cached array, or None if absent, for another key/benchmark, or unreadable."""
        path = self._path(benchmark_name, benchmark_hash, label, key)
        meta_path = path.with_suffix(".json")
        if not (path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError, json.JSONDecodeError):
            return None
        if meta.get("key") != key or meta.get("benchmark_hash") != benchmark_hash:
            return None
        if n is not None and len(values) != n:
            return None
        return values

    def get_meta(self, benchmark_name: str, benchmark_hash: str, label: str, key: str) -> dict[str, Any] | None:
        """The JSON record stored with an array, or None."""
        path = self._path(benchmark_name, benchmark_hash, label, key).with_suffix(".json")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return meta if isinstance(meta, dict) and meta.get("key") == key else None

    def put(self, benchmark_name: str, benchmark_hash: str, label: str, key: str, values: np.ndarray,
            meta: dict[str, Any] | None = None) -> Path:
        """Store an array (atomically) with a JSON record of its key and origin."""
        path = self._path(benchmark_name, benchmark_hash, label, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arr = np.ascontiguousarray(values)
        if arr.dtype == object:
            raise RouteLLMError("refusing to cache an object array (would need pickle)")
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
        os.close(fd)
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        os.replace(tmp, path)
        record = {"key": key, "benchmark": benchmark_name, "benchmark_hash": benchmark_hash, "label": label,
                  "n": int(len(arr)), "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **(meta or {})}
        path.with_suffix(".json").write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        return path

    @property
    def embedding_dir(self) -> Path:
        """Where benchmark-prompt embeddings are cached (the embedder's own disk cache format)."""
        return self.root / "embeddings"
