"""Out-of-fold scores of the shipped default routers, shipped beside their checkpoints.

``checkpoints/scores/<router>.safetensors`` holds, per benchmark (MT-Bench, GSM8K, MMLU, Arena), the
scores ``routellm-core evaluate`` computes for that default router: cross-fitted (5 folds) where the
default data holds the benchmark's labels, the shipped checkpoint's own scores on Arena (its prompts are in
no default training source). Float32, 15,914 per router (64 KB). ``<router>.json`` records what produced
them: the checkpoint's hash (every file, as :func:`~.cache.directory_hash` reads it), the manifest's
training-data hash and recipe version, and per benchmark its content hash, the evaluation's cache key and
the fold reports.

:class:`~.runner.Evaluator` (so ``evaluate`` and the web demo's Tune tab) uses a benchmark's shipped scores
only when the default checkpoint found now hashes to the recorded one and the benchmark and key match
exactly; otherwise it computes as before. ``python benchmarks/ship_scores.py`` regenerates the files; the
slow test ``tests/evaluation/test_shipped_scores.py`` checks them against a fresh cross-fit.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..routers.defaults import MANIFEST, SHIPPED_DIR, SHIPPED_ROUTERS, find_default_checkpoint
from .cache import directory_hash

SCORES_FOLDER = "scores"
# Float32, not float16: sw_ranking's scores span 0.543-0.572, where float16 keeps about 60 distinct values,
# so 13,985 of its 14,037 MMLU scores would tie and APGRs would move (GSM8K 0.513 -> 0.516, MT-Bench
# 0.655 -> 0.650; the calibrated Arena threshold of mf 0.5237 -> 0.5239). Float32 keeps every score as
# computed to ~1e-7 at twice the size: 128 KB for both routers.
DTYPE = np.float32
FORMAT_VERSION = 1
# The Arena prompts (real Chatbot Arena questions, in no default training source): the sample the web demo
# calibrates its starting threshold on, from the shipped checkpoint's own scores.
CALIBRATION_BENCHMARK = "arena"
# The checkpoint's own Arena scores, stored beside the cross-fitted ones when the recipe trains on Arena:
# evaluation needs out-of-fold scores, a starting threshold needs the scores the shipped router gives.
CALIBRATION_TENSOR = "calibration:arena"
_hashes: dict[tuple, str] = {}
_lock = threading.Lock()


def scores_dir() -> Path:
    """``routellm_core/checkpoints/scores`` (looked up at call time, so tests can point SHIPPED_DIR elsewhere)."""
    from ..routers import defaults

    return Path(getattr(defaults, "SHIPPED_DIR", SHIPPED_DIR)) / SCORES_FOLDER


def score_paths(name: str, root: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    folder = Path(root) if root is not None else scores_dir()
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def checkpoint_hash(path: str | os.PathLike[str]) -> str:
    """:func:`directory_hash` of a checkpoint folder, remembered per (file, size, mtime) set."""
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    stamp = (str(root), *((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    with _lock:
        hit = _hashes.get(stamp)
    if hit is None:
        hit = directory_hash(root)
        with _lock:
            _hashes[stamp] = hit
    return hit


def read_record(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The JSON record of router ``name``'s shipped scores, or None when absent or unreadable."""
    _, meta = score_paths(name, root)
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT_VERSION:
        return None
    return record


def matching_record(name: str) -> dict[str, Any] | None:
    """The record of ``name``'s shipped scores if the default checkpoint found now is the one they belong to."""
    if name not in SHIPPED_ROUTERS:
        return None
    record = read_record(name)
    if record is None:
        return None
    try:
        path = find_default_checkpoint(name)
    except Exception:  # noqa: BLE001 -- no checkpoint (or an unreadable one): nothing to match
        return None
    return record if record.get("checkpoint_sha256") == checkpoint_hash(path) else None


def _tensor(name: str, bench_name: str) -> np.ndarray | None:
    from safetensors.numpy import load_file

    scores, _ = score_paths(name)
    try:
        values = load_file(str(scores)).get(bench_name)
    except (OSError, ValueError, RuntimeError):
        return None
    return None if values is None else values.astype(np.float64)


def lookup(name: str, bench_name: str, bench_hash: str, key: str, n: int) -> tuple[np.ndarray, dict[str, Any]] | None:
    """(scores, entry) shipped for router ``name`` on a benchmark, when checkpoint, benchmark and key all match."""
    record = matching_record(name)
    entry = (record or {}).get("benchmarks", {}).get(bench_name)
    if not entry or entry.get("benchmark_hash") != bench_hash or entry.get("key") != key or entry.get("n") != n:
        return None
    values = _tensor(name, bench_name)
    if values is None or len(values) != n or not np.isfinite(values).all():
        return None
    return values, entry


def calibration_scores(name: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The shipped checkpoint's own scores on the Arena prompts (not cross-fitted), for a starting threshold.

    None unless ``name`` is a shipped default whose checkpoint matches; no benchmark is loaded.
    """
    record = matching_record(name)
    entry = (record or {}).get("benchmarks", {}).get(CALIBRATION_BENCHMARK)
    tensor = CALIBRATION_BENCHMARK
    if entry and entry.get("cross_fit"):  # Arena is in the training data: its own scores are stored apart
        entry, tensor = (record or {}).get("calibration"), CALIBRATION_TENSOR
    if not entry:
        return None
    values = _tensor(name, tensor)
    return None if values is None or len(values) != entry.get("n") else (values, entry)


def write_scores(name: str, results: Mapping[str, tuple[np.ndarray, Mapping[str, Any]]],
                 root: str | os.PathLike[str] | None = None, command: str = "",
                 calibration: tuple[np.ndarray, Mapping[str, Any]] | None = None) -> tuple[Path, Path]:
    """Save router ``name``'s scores per benchmark (:data:`DTYPE`) with the record :func:`lookup` checks."""
    from safetensors.numpy import save_file

    from ..recipe import read_manifest

    checkpoint = find_default_checkpoint(name)
    manifest = read_manifest(checkpoint)
    scores_file, meta_file = score_paths(name, root)
    scores_file.parent.mkdir(parents=True, exist_ok=True)
    tensors = {bench: np.ascontiguousarray(np.asarray(values, dtype=DTYPE)) for bench, (values, _) in results.items()}
    if calibration is not None:
        tensors[CALIBRATION_TENSOR] = np.ascontiguousarray(np.asarray(calibration[0], dtype=DTYPE))
    save_file(tensors, str(scores_file))
    record = {
        "format": FORMAT_VERSION, "router": name, "dtype": np.dtype(DTYPE).name, "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "checkpoint": str(checkpoint.relative_to(SHIPPED_DIR.parent)) if checkpoint.is_relative_to(SHIPPED_DIR.parent)
        else str(checkpoint),
        "checkpoint_sha256": checkpoint_hash(checkpoint),
        "manifest": {"files": manifest.get("files"), "training_sha256": manifest.get("training_sha256"),
                     "recipe_version": manifest.get("recipe_version"), "sources": manifest.get("sources")},
        "benchmarks": {bench: {**dict(meta), "n": int(len(values))} for bench, (values, meta) in results.items()},
    }
    if calibration is not None:
        record["calibration"] = {**dict(calibration[1]), "n": int(len(calibration[0]))}
    meta_file.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return scores_file, meta_file


def shipped_entries(name: str, evaluator: Any, data_dir: str | os.PathLike[str] | None = None,
                    benchmarks: tuple[str, ...] | None = None) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Scores of default router ``name`` on each benchmark exactly as ``evaluator`` computes them, with their record.

    ``evaluator`` should not read shipped scores itself (``Evaluator(shipped=False)``); with its cache, a
    previous ``routellm-core evaluate`` of the same routers makes this instant.
    """
    from .benchmarks import BENCHMARK_NAMES, load_benchmark

    out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    for bench_name in benchmarks or BENCHMARK_NAMES:
        bench = load_benchmark(bench_name, data_dir)
        bench_hash = bench.fingerprint()
        result = evaluator.evaluate_router(name, bench, bench_hash)
        k = int(result.source.split()[1]) if result.source.startswith("cross-fit") else None
        key, _ = evaluator.shipped_key(name, bench, k)
        out[bench.name] = (np.asarray(result.scores, dtype=np.float64),
                           {"benchmark_hash": bench_hash, "key": key, "cross_fit": k,
                            "source": f"cross-fit {k}" if k else "the checkpoint's own scores",
                            "apgr": round(float(result.metrics.apgr), 4),
                            "folds": [f.to_dict() for f in result.folds or []]})
    return out


def own_calibration_scores(name: str, data_dir: str | os.PathLike[str] | None = None,
                           ) -> tuple[np.ndarray, dict[str, Any]]:
    """The shipped checkpoint's own scores on the calibration benchmark's prompts (no cross-fitting)."""
    from ..routers.registry import load_router
    from .benchmarks import load_benchmark

    bench = load_benchmark(CALIBRATION_BENCHMARK, data_dir)
    values = np.asarray(load_router(str(find_default_checkpoint(name))).predict_proba(list(bench.prompts)),
                        dtype=np.float64)
    return values, {"benchmark": CALIBRATION_BENCHMARK, "benchmark_hash": bench.fingerprint(),
                    "source": "the checkpoint's own scores"}


__all__ = ["lookup", "calibration_scores", "own_calibration_scores", "CALIBRATION_TENSOR", "matching_record", "read_record", "write_scores", "score_paths",
           "checkpoint_hash", "shipped_entries", "CALIBRATION_BENCHMARK", "MANIFEST"]
