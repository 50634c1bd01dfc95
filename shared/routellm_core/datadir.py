"""Where the benchmark and preference data live (never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataError

ENV_VAR = "ROUTELLM_DATA_DIR"


def default_cache_dir() -> Path:
    """Per-user cache for downloads, trained default routers and score caches."""
    root = os.environ.get("ROUTELLM_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "routellm"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: the argument, else ``$ROUTELLM_DATA_DIR``, else ``../shared/data``.

    ``../shared/data`` is looked up relative to the working directory and to the project root.
    """
    candidates: list[Path] = []
    if data_dir is not None:
        candidates = [Path(data_dir)]
    elif os.environ.get(ENV_VAR):
        candidates = [Path(os.environ[ENV_VAR])]
    else:
        project_root = Path(__file__).resolve().parents[2]
        candidates = [Path.cwd().parent / "shared" / "data", project_root.parent / "shared" / "data",
                      default_cache_dir() / "data"]
    for path in candidates:
        if path.is_dir():
            return path
    raise DataError(
        f"data directory not found (tried {', '.join(str(p) for p in candidates)}); "
        f"pass --data-dir, set {ENV_VAR}, or run `routellm-core download`"
    )


def data_file(relative: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """A file inside the data directory, with a clear error when it is missing."""
    path = resolve_data_dir(data_dir) / relative
    if not path.exists():
        raise DataError(f"data file missing: {path}")
    return path
