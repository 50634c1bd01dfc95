"""Where the default checkpoint of a router name lives; finding one never trains.

Two places, in this order:

1. the user's cache, ``$ROUTELLM_CACHE_DIR/routers/<name>-default`` -- written by
   ``routellm-core train --router <name>`` (bert and causal_llm live only here);
2. the checkpoints shipped inside the package (``routellm_core/checkpoints/<name>``), built by
   ``routellm-core train --recipe default``: mf and sw_ranking route at once after ``pip install``.

This module imports nothing from ``training``: training depends on routers, never the reverse.
"""

from __future__ import annotations

from pathlib import Path

from ..datadir import default_cache_dir
from ..errors import CheckpointError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
# Routers whose default checkpoint ships in the wheel: small, and cheap to rebuild (minutes on 2 cores).
# bert and causal_llm are fine-tuned transformers (hundreds of MB): trained explicitly instead.
SHIPPED_ROUTERS: tuple[str, ...] = ("mf", "sw_ranking")
MANIFEST = "manifest.json"
# Opt-in fast routers on the distilled static embedder (``routellm-core train --recipe static``): their
# checkpoint folder is their name; the base router kind is the part before "-static".
STATIC_ROUTERS: tuple[str, ...] = ("mf",)
STATIC_NAMES: tuple[str, ...] = tuple(f"{name}-static" for name in STATIC_ROUTERS)


def shipped_checkpoint_path(name: str) -> Path:
    """Folder of the checkpoint shipped with the package for router ``name`` (may not exist)."""
    return SHIPPED_DIR / name


def cached_checkpoint_path(name: str) -> Path:
    """Folder in the user's cache where ``routellm-core train --router <name>`` saves by default."""
    return default_cache_dir() / "routers" / f"{name}-default"


def find_default_checkpoint(name: str) -> Path:
    """The default checkpoint of router ``name``; a clear error saying how to build it when there is none."""
    for path in (cached_checkpoint_path(name), shipped_checkpoint_path(name)):
        if (path / "config.json").is_file():
            return path
    if name in STATIC_NAMES:
        hint = "it ships with the package, but this copy lacks it; rebuild it with `routellm-core train --recipe static`"
    elif name in SHIPPED_ROUTERS:
        hint = "it ships with the package, but this copy lacks it; rebuild it with `routellm-core train --recipe default`"
    else:
        hint = f"run `routellm-core train --router {name}` to train it (saved to {cached_checkpoint_path(name)})"
    raise CheckpointError(f"no default checkpoint for router {name!r}: {hint}")
