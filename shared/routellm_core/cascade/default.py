"""The shipped answer scorers and their recipe: loading never trains, training is an explicit command.

``routellm-core train --recipe cascade`` runs :func:`build_scorer_checkpoints`: it trains each
scorer of :data:`SHIPPED_SCORERS` on every graded answer in the data dir and writes
``config.json`` + ``model.safetensors`` + ``manifest.json`` (sources, row counts, content hashes,
parameters, file hashes; no timestamps) into the package's ``checkpoints/answer_scorer[-features]``.
:func:`shipped_answer_scorer` loads them; without the files it raises a
:class:`~routellm_core.errors.CheckpointError` that says how to build them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..errors import CheckpointError, InvalidInputError
from .records import ANSWER_SOURCES, AnswerRecord, answer_records
from .scorer import AnswerScorer

SCORER_RECIPE_VERSION = 1
MANIFEST = "manifest.json"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
# name -> (folder in checkpoints/, AnswerScorer parameters). "default": text features + MiniLM vectors
# (best on open chat); "features": text features only (no torch, sub-millisecond; best on math).
SHIPPED_SCORERS: dict[str, tuple[str, dict]] = {
    "default": ("answer_scorer", {"use_embeddings": True}),
    "features": ("answer_scorer-features", {"use_embeddings": False}),
}
BUILD_HINT = "build it with `routellm-core train --recipe cascade`"


def shipped_scorer_path(name: str = "default") -> Path:
    """Folder of the shipped scorer ``name`` ("default" or "features"); it may not exist."""
    if name not in SHIPPED_SCORERS:
        raise InvalidInputError(f"unknown answer scorer {name!r}: choose {', '.join(SHIPPED_SCORERS)}, "
                                "or give a checkpoint directory")
    return SHIPPED_DIR / SHIPPED_SCORERS[name][0]


def shipped_answer_scorer(name: str = "default") -> AnswerScorer:
    """The shipped scorer ``name``; a :class:`CheckpointError` saying how to build it when it is missing."""
    path = shipped_scorer_path(name)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"no {name!r} answer scorer checkpoint in {path}: {BUILD_HINT}")
    return AnswerScorer.load(path)


def answer_records_sha256(records: Iterable[AnswerRecord]) -> str:
    """Content hash of graded answers (source, group, model, prompt, answer, label), in order."""
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r.source}\x00{r.group}\x00{r.model}\x00{r.prompt}\x00{r.answer}\x00{r.label!r}\n".encode())
    return digest.hexdigest()


def scorer_sources(data_dir: str | os.PathLike[str] | None = None) -> list[dict]:
    """What the cascade recipe reads: per source, its row count, prompt count and content hash."""
    out = []
    for name in ANSWER_SOURCES:
        rows = answer_records(data_dir, [name])
        out.append({"source": name, "rows": len(rows), "prompts": len({r.prompt_key for r in rows}),
                    "sha256": answer_records_sha256(rows)})
    return out


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_scorer_manifest(path: Path, scorer: AnswerScorer, records: Sequence[AnswerRecord],
                          sources: list[dict]) -> dict:
    files = {f.name: {"sha256": _file_sha256(f), "bytes": f.stat().st_size}
             for f in sorted(path.iterdir()) if f.is_file() and f.name != MANIFEST}
    manifest = {"recipe": "cascade", "recipe_version": SCORER_RECIPE_VERSION, "sources": sources,
                "training_rows": len(records), "training_sha256": answer_records_sha256(records),
                "params": scorer.get_params(), "l2_chosen": scorer.l2_, "files": files}
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def build_scorer_checkpoints(output_dir: str | os.PathLike[str] | None = None,
                             names: Sequence[str] = tuple(SHIPPED_SCORERS),
                             data_dir: str | os.PathLike[str] | None = None,
                             log: Callable[[str], None] = print) -> dict[str, Path]:
    """Train the scorers ``names`` on every graded answer into ``output_dir/<folder>`` (default: the package)."""
    for name in names:
        shipped_scorer_path(name)  # an unknown name fails before any data is read
    root = Path(output_dir) if output_dir else SHIPPED_DIR
    sources = scorer_sources(data_dir)
    records = answer_records(data_dir)
    built = {}
    for name in names:
        folder, params = SHIPPED_SCORERS[name]
        out = root / folder
        log(f"training the {name!r} answer scorer on {len(records)} graded answers -> {out}")
        scorer = AnswerScorer(**params, show_progress=True).fit(records)
        if out.is_dir():
            for old in out.iterdir():
                if old.is_file():
                    old.unlink()
        scorer.save(out)
        write_scorer_manifest(out, scorer, records, sources)
        built[name] = out
    return built
