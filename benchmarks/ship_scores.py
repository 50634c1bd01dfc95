"""Regenerate the default routers' shipped out-of-fold scores (``routellm_core/checkpoints/scores/``).

For each shipped default router (mf, sw_ranking) and each benchmark (MT-Bench, MMLU, GSM8K, Arena) this
runs exactly what ``routellm-core evaluate`` runs -- 5-fold cross-fitting where the default data holds the
benchmark's labels, the shipped checkpoint's own scores on Arena -- and writes the scores as float32 with
the checkpoint's hash, the manifest's data hashes and each benchmark's cache key
(:mod:`routellm_core.evaluation.shipped`). Rerun it after retraining the shipped checkpoints
(``routellm-core train --recipe default``); the evaluation cache makes a rerun after
``routellm-core evaluate --benchmark all --routers mf sw_ranking`` instant. About an hour of CPU on 2 cores
from an empty cache, so run it in the background:

    nice -n 10 .venv/bin/python benchmarks/ship_scores.py > ship_scores.log 2>&1 &
"""

from __future__ import annotations

import argparse
import sys

from routellm_core.evaluation.cache import ScoreCache
from routellm_core.evaluation.runner import Evaluator, stderr_log
from routellm_core.evaluation.shipped import (
    CALIBRATION_BENCHMARK,
    CALIBRATION_TENSOR,
    own_calibration_scores,
    read_record,
    score_paths,
    shipped_entries,
    write_scores,
)
from routellm_core.routers.defaults import SHIPPED_ROUTERS

COMMAND = "python benchmarks/ship_scores.py"


def _calibration(name: str, entries: dict, data_dir: str | None):
    """The checkpoint's own Arena scores, needed only where the recipe trained on Arena (cross-fitted there)."""
    return own_calibration_scores(name, data_dir) if entries[CALIBRATION_BENCHMARK][1].get("cross_fit") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", nargs="+", default=list(SHIPPED_ROUTERS), choices=SHIPPED_ROUTERS)
    parser.add_argument("--data-dir", default=None, help="data directory (default $ROUTELLM_DATA_DIR or ../shared/data)")
    parser.add_argument("--cache-dir", default=None, help="evaluation cache (default $ROUTELLM_CACHE_DIR/eval)")
    parser.add_argument("--output", default=None, help="folder for <router>.safetensors/.json (default: the package's)")
    parser.add_argument("--calibration-only", action="store_true",
                        help="keep the shipped scores; add the checkpoint's own Arena scores where Arena is cross-fitted")
    args = parser.parse_args(argv)
    if args.calibration_only:
        from safetensors.numpy import load_file

        for name in args.routers:
            scores_file, _ = score_paths(name, args.output)
            record = read_record(name, args.output) or {}
            tensors = {k: v for k, v in load_file(str(scores_file)).items() if k != CALIBRATION_TENSOR}
            entries = {b: (tensors[b], {k: v for k, v in meta.items() if k != "n"})
                       for b, meta in record["benchmarks"].items()}
            calibration = _calibration(name, entries, args.data_dir)
            write_scores(name, entries, args.output, command=record.get("command", COMMAND), calibration=calibration)
            print(f"{name}: calibration scores {'added' if calibration else 'not needed'}", file=sys.stderr)
        return 0
    evaluator = Evaluator(cache=ScoreCache(args.cache_dir), shipped=False, bootstrap=0, with_cost=False, random_seeds=1,
                          data_dir=args.data_dir, log=stderr_log)
    for name in args.routers:
        entries = shipped_entries(name, evaluator, args.data_dir)
        calibration = _calibration(name, entries, args.data_dir)
        scores, meta = write_scores(name, entries, args.output, command=COMMAND, calibration=calibration)
        size = scores.stat().st_size
        summary = ", ".join(f"{bench} {entry['source']} APGR {entry['apgr']:.3f}" for bench, (_, entry) in entries.items())
        print(f"{name}: {sum(len(v) for v, _ in entries.values()):,} scores, {size:,} bytes -> {scores} ({summary})",
              file=sys.stderr)
    assert all(score_paths(n, args.output)[1].is_file() for n in args.routers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
