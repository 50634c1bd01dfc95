"""Checkpoint directories: ``config.json`` + ``*.safetensors``. Never pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError

FORMAT_VERSION = 1


def write_checkpoint(path: str | os.PathLike[str], config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (numpy arrays) into ``path``."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path / "model.safetensors"))
    config = {**config, "format_version": FORMAT_VERSION}
    (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``config.json`` of a checkpoint directory."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_dir():
        raise CheckpointError(f"checkpoint must be a directory with config.json: {path}")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise CheckpointError(f"checkpoint {path} has no config.json")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path}: config.json is corrupt ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {path}: config.json must hold a JSON object")
    return config


def read_tensors(path: str | os.PathLike[str], required: list[str] | None = None,
                 filename: str = "model.safetensors") -> dict[str, np.ndarray]:
    """Read the safetensors file of a checkpoint as numpy arrays."""
    from safetensors.numpy import load_file

    file = Path(path) / filename
    if not file.is_file():
        raise CheckpointError(f"checkpoint {path} has no {filename}")
    try:
        tensors = load_file(str(file))
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupt files
        raise CheckpointError(f"checkpoint {path}: {filename} is corrupt ({type(exc).__name__}: {exc})") from None
    missing = [k for k in (required or []) if k not in tensors]
    if missing:
        raise CheckpointError(f"checkpoint {path}: {filename} lacks tensor(s) {', '.join(missing)}")
    return tensors


def require_keys(config: dict[str, Any], keys: list[str], path: Any) -> None:
    missing = [k for k in keys if k not in config]
    if missing:
        raise CheckpointError(f"checkpoint {path}: config.json lacks {', '.join(missing)}")
