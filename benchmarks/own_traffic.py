"""Simulated own traffic: recorded verdicts replayed through the labeller, then the own-router report.

    nice -n 10 python benchmarks/own_traffic.py [--sources gsm8k alpaca_eval arena_hard routerbench_arc mmlu_stem]
        [--sizes 50 100 300 1000] [--folds 5] [--speed]    (also: arc_heldout)

For each source a strong/weak pair's recorded outcome per prompt (GSM8K / RouterBench correctness,
AlpacaEval's GPT-4-Turbo preference, Arena-Hard's gpt-4o-judged verdicts against gpt-4-0314, turned
into a pair) is replayed through :class:`Labeller`'s own record path: replay "models" answer with a
token, a replay judge writes the verdict label that the recorded outcome implies for each order
(outcomes are quantised to Arena-Hard's five levels), and the labeller parses, averages both orders
and writes the labels JSONL that ``routellm-core report`` reads. The report then cross-fits the own
router at 50/100/300/1000 training labels. ``--speed`` times the labeller on three loopback HTTP stub
servers (1,000 prompts, concurrency 16). Writes ``results/own_traffic.json``.

``arc_heldout`` is RouterBench ARC-Challenge as new traffic in the same way: every ARC prompt is removed from
the default recipe's training data and the default retrained (``results/arc_heldout_default-<embedder>/``);
the nearest public analogue of the team's held-back science questions.

``mmlu_stem`` is MMLU held-out domains as new traffic: MMLU's 19 STEM subjects (3,153 questions, the
paper's pair's correctness) are removed from the default recipe's training data, the default MF is
retrained without them (``results/mmlu_heldout_default-<embedder>/``, the default recipe's parameters), and
that router is both the "default" of the report and the ``--init`` prior of the own router. The other
sources warm-start from the shipped ``mf``.

Every source also gets an in-distribution probe, which says how much prompt signal the traffic has:
a 25-nearest-neighbour average of the replayed outcomes on the report's MiniLM vectors (cosine), no
prior, cross-fitted on the report's folds with all training labels. The issue's 300-label goal
(default + 0.04) applies where that probe reaches default + 0.04.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from routellm_core.data.tables import normalize_prompt
from routellm_core.own_router.clients import ChatResult
from routellm_core.own_router.labeller import Labeller
from routellm_core.own_router.prompts import PromptItem, item_key
from routellm_core.own_router.report import own_router_report

LEVELS = {1.0: "A>>B", 0.75: "A>B", 0.5: "A=B", 0.25: "B>A", 0.0: "B>>A"}
# MMLU's "STEM" category (the benchmark's own grouping of its subjects): held out of the default as new traffic
MMLU_HELD_OUT = ("abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
                 "college_computer_science", "college_mathematics", "college_physics", "computer_security",
                 "conceptual_physics", "electrical_engineering", "elementary_mathematics", "high_school_biology",
                 "high_school_chemistry", "high_school_computer_science", "high_school_mathematics",
                 "high_school_physics", "high_school_statistics", "machine_learning")


def source_outcomes(name: str) -> tuple[str, str, dict[str, float]]:
    """(strong, weak, prompt -> recorded P(strong better)) for one simulated traffic source."""
    from routellm_core.loaders import load_alpaca_eval, load_arena_hard, load_correctness_table, load_routellm_golden

    if name == "gsm8k":
        strong, weak, records = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1", load_routellm_golden("gsm8k")
    elif name == "mmlu_stem":
        strong, weak = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"
        held = {f"mmlu:{d}" for d in MMLU_HELD_OUT}
        records = [r for r in load_routellm_golden("mmlu") if r.source in held]
    elif name == "alpaca_eval":
        strong, weak = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"
        records = load_alpaca_eval(annotators=["weighted_alpaca_eval_gpt4_turbo"])
    elif name in ("routerbench_arc", "arc_heldout"):
        from routellm_core.data.files import ROUTERBENCH_DIR, data_path

        strong, weak = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"
        records = load_correctness_table(data_path(ROUTERBENCH_DIR) / "arc_challenge_train.csv",
                                         ["gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"])
    elif name == "arena_hard":  # two models' verdicts against the same baseline, as one pair
        strong, weak = "gpt-4o", "gpt-4o-mini"
        per: dict[str, dict[str, float]] = defaultdict(dict)
        for r in load_arena_hard(judges=["gpt-4o"], models=[strong, weak]):
            per[r.prompt][r.model_a] = r.outcome
        return strong, weak, {p: 0.5 + 0.5 * (v[strong] - v[weak]) for p, v in per.items() if len(v) == 2}
    else:
        raise SystemExit(f"unknown source {name!r}")
    groups: dict[str, list[float]] = defaultdict(list)
    first: dict[str, str] = {}
    for r in records:
        y = r.oriented(strong, weak)
        if y is not None:
            key = normalize_prompt(r.prompt)
            groups[key].append(y)
            first.setdefault(key, r.prompt)
    return strong, weak, {first[k]: float(np.mean(v)) for k, v in groups.items()}


class Replay:
    """A replay model: answers with a token naming itself, so the replay judge knows who wrote what."""

    def __init__(self, name: str) -> None:
        self.name, self.price = name, None

    async def chat(self, messages):
        return ChatResult(f"REPLAY:{self.name}", 1, 1)


class ReplayJudge:
    """Writes the verdict label the recorded outcome implies for the order shown."""

    def __init__(self, strong: str, outcomes: dict[str, float]) -> None:
        self.name, self.price, self.strong, self.outcomes = "replay-judge", None, strong, outcomes

    async def chat(self, messages):
        user = messages[-1]["content"]
        prompt = user.split("<|User Prompt|>\n", 1)[1].split("\n\n<|The Start of Assistant A's Answer|>", 1)[0]
        first = user.split("<|The Start of Assistant A's Answer|>\n", 1)[1].split("\n", 1)[0]
        p_strong = min(LEVELS, key=lambda level: abs(level - self.outcomes[prompt]))
        p_first = p_strong if first == f"REPLAY:{self.strong}" else 1.0 - p_strong
        return ChatResult(f"Replayed verdict: [[{LEVELS[p_first]}]]", 1, 1)


# Sources whose prompts are held out of the default: the default recipe's MF is retrained without them.
HELD_OUT_SOURCES = ("mmlu_stem", "arc_heldout")


def heldout_default(out: Path, name: str, embedder: str = "minilm-bf16") -> Path:
    """The default recipe's MF retrained without source ``name``'s prompts: that source's default and prior."""
    from routellm_core import training
    from routellm_core.recipe import records_sha256

    records = training.default_training_records(embedder=embedder, verbose=False)
    if name == "mmlu_stem":
        held = {f"mmlu:{d}" for d in MMLU_HELD_OUT}
        banned = {normalize_prompt(r.prompt) for r in records if r.source in held}
        stem = "mmlu_heldout_default"
    else:  # arc_heldout: every RouterBench ARC-Challenge prompt, whichever source brought it in
        banned = {normalize_prompt(p) for p in source_outcomes(name)[2]}
        stem = "arc_heldout_default"
    kept = [r for r in records if normalize_prompt(r.prompt) not in banned]
    path = out / f"{stem}-{embedder}"
    stamp = path / "training_sha256.txt"
    digest = records_sha256(kept)
    if not (stamp.is_file() and stamp.read_text() == digest):  # retrain when the recipe's records change
        print(f"training the default mf without {name}'s prompts: {len(kept)} of {len(records)} "
              f"records ({len(banned)} prompts held out)", file=sys.stderr, flush=True)
        router = training.default_router("mf", embedder=embedder, show_progress=False).fit(kept)
        router.save(path)
        stamp.write_text(digest)
    return path


def knn_probe(report_x: np.ndarray, y: np.ndarray, folds: np.ndarray, k: int = 25) -> np.ndarray:
    """Cross-fitted 25-NN average of the outcomes on unit-normalised vectors (the in-distribution probe)."""
    from routellm_core.routers.neighbours import knn_mean, unit_rows

    x = unit_rows(report_x)
    out = np.empty(len(y))
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        out[te] = knn_mean(x[te], x[tr], y[tr], np.ones(int(tr.sum())), k)
    return out


def probe_apgr(path: Path, init: str, folds: int, n_boot: int, seed: int = 0) -> dict:
    """APGR of the probe on the labels file, with the report's pair, vectors and folds (90% interval)."""
    from routellm_core.own_router.report import _interval, _metrics, load_labels
    from routellm_core.own_router.warm_start import fold_ids, load_base, pair_data, pair_of

    records = load_labels(path)
    s_name, w_name = pair_of(records, None, None, path.name)
    data = pair_data(records, s_name, w_name)
    x = load_base(init)._embed(data.prompts).astype(np.float64)
    scores = knn_probe(x, data.target, fold_ids(len(data.prompts), folds, seed))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(scores), len(scores))
        if np.ptp(data.target[idx]) > 0:
            boot.append(_metrics(scores[idx], data.target[idx])["apgr"])
    return {"apgr": _metrics(scores, data.target)["apgr"], "apgr_interval": _interval(boot, 0.9)}


def replay_labels(name: str, out: Path) -> tuple[dict, Path]:
    strong, weak, outcomes = source_outcomes(name)
    items = [PromptItem(p, key=item_key(p), where=f"{name} item {i}") for i, p in enumerate(outcomes)]
    path = out / f"own_traffic_{name}.jsonl"
    path.unlink(missing_ok=True)
    stats = Labeller(Replay(strong), Replay(weak), ReplayJudge(strong, outcomes), concurrency=16, fsync=False,
                     log=lambda m: print(m, file=sys.stderr)).label(items, path)
    return {"source": name, "strong": strong, "weak": weak, "prompts": len(items), "labelled": stats.labelled,
            "label_seconds": round(stats.seconds, 2)}, path


def labeller_speed(n: int = 1000, concurrency: int = 16) -> dict:
    """The labeller on three real loopback HTTP stubs (no latency): 1,000 prompts at concurrency 16."""
    from routellm_core.testing import OpenAIStubServer

    def judge(body):
        return "[[A>B]]"

    with OpenAIStubServer(model="strong") as s, OpenAIStubServer(model="weak") as w, \
            OpenAIStubServer(model="judge", responder=judge) as j:
        items = [PromptItem(f"prompt number {i}", key=item_key(f"prompt number {i}")) for i in range(n)]
        out = Path("results") / "own_traffic_speed.jsonl"
        out.unlink(missing_ok=True)
        start = time.monotonic()
        stats = asyncio.run(Labeller(f"strong@{s.base_url}", f"weak@{w.base_url}", f"judge@{j.base_url}",
                                     concurrency=concurrency, log=lambda m: None).alabel(items, out))
        return {"prompts": n, "concurrency": concurrency, "seconds": round(time.monotonic() - start, 1),
                "labelled": stats.labelled, "errors": stats.errors, "requests": 4 * n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+",
                        default=["gsm8k", "alpaca_eval", "arena_hard", "routerbench_arc", "mmlu_stem"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[50, 100, 300, 1000])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--inner-folds", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--speed", action="store_true", help="also time the labeller on loopback HTTP stubs")
    parser.add_argument("--output", default="results/own_traffic.json")
    parser.add_argument("--heldout-embedder", default="minilm-bf16",
                        help="mmlu_stem: the embedder of the default retrained without the held-out subjects "
                             "(default the recipe's minilm-bf16; minilm-static is the fast proxy)")
    args = parser.parse_args()
    out = Path("results")
    out.mkdir(exist_ok=True)
    results = {"sources": [], "args": vars(args)}
    for name in args.sources:
        t0 = time.monotonic()
        meta, path = replay_labels(name, out)
        init = str(heldout_default(out, name, args.heldout_embedder)) if name in HELD_OUT_SOURCES else "mf"
        report = own_router_report(path, init=init, folds=args.folds, curve_sizes=args.sizes,
                                   inner_folds=args.inner_folds, n_boot=args.bootstrap,
                                   plot=out / f"own_traffic_{name}.png")
        probe = probe_apgr(path, init, args.folds, args.bootstrap)
        r = report["routers"]
        row = {**meta, "default_apgr": r["default"]["apgr"], "default_interval": r["default"]["apgr_interval"],
               "own_apgr": r["own"]["apgr"], "own_interval": r["own"]["apgr_interval"], "random_apgr": r["random"]["apgr"],
               "own_minus_default": report["own_minus_default"], "learning_curve": report["learning_curve"],
               "init": init, "probe_apgr": probe["apgr"], "probe_interval": probe["apgr_interval"],
               "prior_strength": report["prior_strength"], "neighbour_blend": report["neighbour_blend"],
               "verdict": report["verdict"],
               "seconds": round(time.monotonic() - t0, 1)}
        results["sources"].append(row)
        curve = ", ".join(f"{p['labels']}: {p['apgr']:.3f} [{p['apgr_interval'][0]:.3f}, {p['apgr_interval'][1]:.3f}]"
                          for p in row["learning_curve"])
        print(f"{name}: {meta['prompts']} prompts, default {row['default_apgr']:.3f} "
              f"[{row['default_interval'][0]:.3f}, {row['default_interval'][1]:.3f}], own {row['own_apgr']:.3f} "
              f"[{row['own_interval'][0]:.3f}, {row['own_interval'][1]:.3f}], random {row['random_apgr']:.3f}, "
              f"probe {row['probe_apgr']:.3f}, neighbour blend {row['neighbour_blend']['all_labels']:g}; "
              f"curve {curve}; {row['verdict']} ({row['seconds']}s)", flush=True)
    if args.speed:
        results["labeller_speed"] = labeller_speed()
        print(f"labeller speed: {results['labeller_speed']}", flush=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
