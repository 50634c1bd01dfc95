"""``routellm-core evaluate --multi-model``: route among every model of RouterBench / Arena-Hard by price."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..recipe import TRAINING_EMBEDDER


def multi_model_handler(args: argparse.Namespace) -> int:
    """Cross-fit mf on each benchmark, print the Markdown tables, write PNG plots and ``multi_model.md``."""
    from .multi_model import markdown_table, run_multi
    from .runner import stderr_log

    start = time.perf_counter()
    embedder = args.embedder or TRAINING_EMBEDDER
    weight = args.prompt_weight
    prompt_weight: float | str = weight if weight == "validation" else _number(weight)
    output = Path(args.output)
    results = run_multi(args.benchmark, output, embedder, k=args.cross_fit or 5, n_boot=min(args.bootstrap, 1000),
                        seed=args.cross_fit_seed, data_dir=getattr(args, "data_dir", None),
                        plot=not args.no_plot, log=stderr_log, prompt_weight=prompt_weight)
    for res in results:
        print(markdown_table(res))
        print()
    written = [str(output / "multi_model.md")] + [str(r.plot_path) for r in results if r.plot_path]
    stderr_log(f"wrote {', '.join(written)} ({time.perf_counter() - start:.1f}s)")
    return 0


def _number(text: str) -> float:
    from ..errors import InvalidInputError

    try:
        return float(text)
    except ValueError:
        raise InvalidInputError(f"--prompt-weight must be a number in [0, 1] or 'validation', not {text!r}") from None
