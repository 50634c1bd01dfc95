"""The default recipe: build the router checkpoints that ship inside the package, with a manifest.

``routellm-core train --recipe default`` runs :func:`build_default_checkpoints`. It reads whatever
``training`` defines as the default datasets and parameters at call time, so a change of recipe
there is picked up by simply re-running the command. The manifest records what went in (datasets,
record counts, content hashes) and what came out (file hashes), without timestamps: the same data
and code give the same bytes, and a test can check a shipped checkpoint against the data on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .records import PreferenceRecord
from .routers.defaults import MANIFEST, SHIPPED_DIR, SHIPPED_ROUTERS

# Training prompts are embedded in torch bfloat16 batches: ~3x faster than float32 on CPUs with native
# bf16 (cosine to float32 >= 0.9999), and the bulk of the recipe's time. The shipped routers then embed
# queries with the default float32 "minilm" (numpy, batch-invariant); the difference is far below the
# float16 precision sw_ranking stores its training vectors in.
TRAINING_EMBEDDER = "minilm-bf16"
INFERENCE_EMBEDDER = "minilm"


def records_sha256(records: Iterable[PreferenceRecord]) -> str:
    """Content hash of records (prompt, models, outcome, weight), in order."""
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r.prompt}\x00{r.model_a}\x00{r.model_b}\x00{r.outcome!r}\x00{r.weight!r}\n".encode())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recipe_sources(data_dir: str | os.PathLike[str] | None = None) -> list[dict]:
    """What the default recipe reads: per dataset, its record count, prompt count and content hash."""
    from . import training
    from .loaders import load_training_records

    sources = []
    for name in training.DEFAULT_DATASETS:
        part = load_training_records(name, data_dir)
        sources.append({"dataset": name, "records": len(part), "prompts": len({r.prompt for r in part}),
                        "sha256": records_sha256(part)})
    return sources


def read_manifest(path: str | os.PathLike[str]) -> dict:
    from .errors import CheckpointError

    file = Path(path) / MANIFEST
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path}: cannot read {MANIFEST} ({exc})") from None


# What each training set's labels are, for the one-line description of a checkpoint (its counts come from the manifest).
DATASET_LABELS = {
    "routerbench": "RouterBench correctness labels", "mmlu": "MMLU golden labels",
    "gsm8k": "GSM8K golden labels", "mt-bench": "MT-Bench GPT-4 judge scores",
    "arena_hard": "Arena-Hard judge verdicts", "chatbot_arena": "Chatbot Arena human votes",
    "alpaca_eval": "AlpacaEval judge preferences (CC BY-NC)",
}


def describe_manifest(manifest: dict) -> str:
    """What a checkpoint learned from, in words, read from its manifest (counts, recipe version, sources).

    >>> describe_manifest({"recipe": "default", "recipe_version": 2, "training_records": 3, "training_prompts": 2,
    ...                    "sources": [{"dataset": "gsm8k", "records": 3, "prompts": 2}]})
    'learned from 3 records on 2 prompts (recipe default v2): GSM8K golden labels (3 records, 2 prompts)'
    """
    parts = []
    for source in manifest.get("sources") or []:
        name = str(source.get("dataset", "?"))
        records, prompts = source.get("records"), source.get("prompts")
        counts = f"{records:,} records" + (f", {prompts:,} prompts" if prompts is not None and prompts != records else "")
        parts.append(f"{DATASET_LABELS.get(name, name)} ({counts})")
    records, prompts = manifest.get("training_records"), manifest.get("training_prompts")
    head = "learned from " + (f"{records:,} records" if records is not None else "its training data")
    head += f" on {prompts:,} prompts" if prompts is not None else ""
    if manifest.get("recipe"):
        head += f" (recipe {manifest['recipe']} v{manifest.get('recipe_version', '?')})"
    return head + (": " + ", ".join(parts) if parts else "")


def write_manifest(path: Path, router, records: Sequence[PreferenceRecord], sources: list[dict],
                   training_embedder: str, recipe: str = "default") -> dict:
    from . import training
    from .embeddings import get_embedder

    files = {f.name: {"sha256": file_sha256(f), "bytes": f.stat().st_size}
             for f in sorted(path.iterdir()) if f.name != MANIFEST}
    manifest = {
        "recipe": recipe, "recipe_version": training.DEFAULT_RECIPE_VERSION, "router": router.name,
        "sources": sources, "training_records": len(records), "training_prompts": len({r.prompt for r in records}),
        "training_sha256": records_sha256(records), "params": router.get_params(),
        "training_embedder": training_embedder, "training_embedder_model_id": get_embedder(training_embedder).model_id,
        "files": files,
    }
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def build_default_checkpoints(output_dir: str | os.PathLike[str] | None = None, routers: Sequence[str] = SHIPPED_ROUTERS,
                              data_dir: str | os.PathLike[str] | None = None, log: Callable[[str], None] = print,
                              training_embedder: str = TRAINING_EMBEDDER, inference_embedder: str = INFERENCE_EMBEDDER,
                              suffix: str = "") -> dict[str, Path]:
    """Train ``routers`` with the default recipe into ``output_dir/<name><suffix>`` (default: the package's folder).

    The training records are always decontaminated with MiniLM (:data:`TRAINING_EMBEDDER`), so routers
    built on another embedder (the static one) learn from exactly the same records.
    """
    from . import training

    root = Path(output_dir) if output_dir else SHIPPED_DIR
    sources = recipe_sources(data_dir)
    records = training.default_training_records(data_dir, embedder=TRAINING_EMBEDDER, log=log)
    built = {}
    for name in routers:
        out = root / f"{name}{suffix}"
        log(f"training the default {name!r} router on {len(records)} records -> {out}")
        router = training.default_router(name, **_embedder_param(name, training_embedder)).fit(records)
        if hasattr(router, "embedder"):
            router.embedder = inference_embedder  # what config.json names: the embedder that routes queries
        if out.is_dir():
            for old in out.iterdir():  # stale files from another format would confuse the manifest
                if old.is_file():
                    old.unlink()
        router.save(out)
        write_manifest(out, router, records, sources, training_embedder, "static" if suffix == "-static" else "default")
        built[name] = out
    return built


def _embedder_param(name: str, embedder: str) -> dict:
    from .routers.embedding_router import EmbeddingRouter
    from .routers.registry import router_class

    return {"embedder": embedder} if issubclass(router_class(name), EmbeddingRouter) else {}
