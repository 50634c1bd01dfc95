"""Training recipes: the default routers that ``load_router("mf")`` etc. resolve to."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from .datadir import default_cache_dir
from .records import PreferenceRecord

log = logging.getLogger(__name__)

# What the default routers are trained on (README says the same, with licenses).
DEFAULT_DATASETS: tuple[str, ...] = ("alpaca_eval", "routerbench")


def default_router_path(name: str) -> Path:
    """Cache folder of the default checkpoint for a router name (``$ROUTELLM_CACHE_DIR/routers/<name>-default``)."""
    return default_cache_dir() / "routers" / f"{name}-default"


def default_training_records(data_dir: str | os.PathLike[str] | None = None,
                             datasets: Sequence[str] = DEFAULT_DATASETS, decontaminate_against_benchmarks: bool = True,
                             embedder: str | None = "minilm", verbose: bool = True) -> list[PreferenceRecord]:
    """The default training set, decontaminated against MT-Bench, MMLU and GSM8K prompts."""
    from .decontaminate import benchmark_prompts, decontaminate
    from .loaders import load_training_records

    records: list[PreferenceRecord] = []
    for name in datasets:
        records += load_training_records(name, data_dir)
    if decontaminate_against_benchmarks:
        records, report = decontaminate(records, benchmark_prompts(data_dir), embedder=embedder)
        if verbose:
            print(report)
    return records


def train_router(name: str, records: Sequence[PreferenceRecord], output: str | os.PathLike[str] | None = None,
                 **params):
    """Fit router ``name`` on ``records`` and save it to ``output`` when given."""
    from .routers.registry import router_class

    router = router_class(name)(**params).fit(records)
    if output is not None:
        router.save(output)
    return router


def train_default_router(name: str, data_dir: str | os.PathLike[str] | None = None, output: str | os.PathLike[str] | None = None,
                         **params):
    """Train the default router ``name`` on the default datasets and cache it (done once per machine)."""
    output = Path(output) if output else default_router_path(name)
    print(f"training default {name!r} router on {', '.join(DEFAULT_DATASETS)} (once; cached in {output})")
    records = default_training_records(data_dir)
    router = train_router(name, records, output=output, **params)
    return router
