"""Time ``routellm-core evaluate`` with a cold cache and again warm.

Cold = an empty ``$ROUTELLM_CACHE_DIR``: every benchmark prompt (14k MMLU) and training prompt is
embedded once, the default routers are cross-fitted (5 folds per benchmark), all scores computed. Warm = the same command again (scores and token
counts come from the cache). ``--reuse-routers DIR`` copies trained default checkpoints
(``<cache>/routers``) in first, so "cold" then means cold scores and embeddings only.

    .venv/bin/python benchmarks/eval_timing.py                      # all benchmarks, random mf sw_ranking
    .venv/bin/python benchmarks/eval_timing.py --reuse-routers ~/.cache/routellm/routers
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    start = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}); see {log}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", nargs="+", default=["all"])
    parser.add_argument("--routers", nargs="+", default=["random", "mf", "sw_ranking"])
    parser.add_argument("--workdir", help="keep cache, outputs and logs here (default: a temporary folder)")
    parser.add_argument("--reuse-routers", help="copy this folder of trained default routers into the cold cache")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="routellm-eval-timing-"))
    cache = work / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    if args.reuse_routers:
        shutil.copytree(Path(args.reuse_routers).expanduser(), cache / "routers")
    env = {**os.environ, "ROUTELLM_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "routellm_core.cli", "evaluate", "--benchmark", *args.benchmark,
           "--routers", *args.routers, "--output", str(work / "out")]
    cold = run(cmd, env, work / "cold.log")
    warm = run(cmd, env, work / "warm.log")
    print(json.dumps({"command": " ".join(cmd[1:]), "cold_s": round(cold, 1), "warm_s": round(warm, 1),
                      "routers_reused": bool(args.reuse_routers), "cpus": os.cpu_count(), "workdir": str(work)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
