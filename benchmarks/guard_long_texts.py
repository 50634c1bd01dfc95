"""How many words make a text "long" for the reroute guard (``routellm_core.guard.LONG_WORDS``).

Past ``LONG_WORDS`` words, the guard scores a text in two forms (whole, and without its first and its
last 12 words) instead of up to eleven. For each candidate limit, this measures:

- the saturated bounds (``reroute_attack.saturated_bound``) for 4-, 8- and 12-word prefixes and
  suffixes, for the shipped router, at a 50% calibration on its own guarded clean scores. The split is
  that of ``reroute_attack.py`` (seed 0, 8 search prompts skipped): the first ``--select`` held-out
  Arena-Hard prompts to choose on, the rest (up to 490) to check on;
- the encoder-time model of the guard's cost: each run takes 1 ms plus 0.15 ms a token (measured on
  this machine, docs/guard.md), forms run on two lanes, and a text gets its forms only when its whole
  text reaches the threshold. Timings themselves come from ``guard_cost.py``;
- with ``--small-router``: a second, weaker router, the test suite's small MF (AlpacaEval, 150
  instructions, 30 epochs). A 12-word gadget is searched against its guarded scorer as the tests search
  it (seed-1 split), and the strong share it adds is measured on 300 Arena-Hard prompts.

    nice -n 10 .venv/bin/python benchmarks/guard_long_texts.py [--limits 60 80 100 120] [--small-router]

Writes ``benchmarks/results/guard_long_texts.json``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from reroute_attack import apply, saturated_bound, search, vocabulary

HERE = Path(__file__).resolve().parent
FULL_GRID = 10**9  # no text is long: every text on the full grid


def cost_ratio(router, guard_module, prompts: list[str], raw: np.ndarray, threshold: float) -> float:
    """Modelled mean routing time with the guard over without (forms on two lanes, gated at ``threshold``)."""
    embedder = router.embedder

    def runs(texts: list[str]) -> float:
        return sum(1.0 + 0.15 * len(ids) for ids in embedder.token_ids(texts)) if texts else 0.0

    base = runs(prompts)
    forms = sum(runs([t for _, t in guard_module.variants(p)]) for p, r in zip(prompts, raw, strict=True) if r >= threshold)
    return round((base + forms / 2) / base, 2)


def shipped_router_rows(limits: list[int], select: int, total: int) -> dict[str, object]:
    from routellm_core import guard as guard_module
    from routellm_core import load_router
    from routellm_core.calibration import threshold_for_fraction
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.server.routing import use_memory_embedder

    router = load_router("mf", cache=False)
    use_memory_embedder(router)
    arena = [q.prompt for q in arena_hard_questions()]
    random.Random(0).shuffle(arena)  # the split of reroute_attack.py
    held = arena[8:][:total]
    splits = {"select": held[:select], "check": held[select:]}
    rows: dict[str, object] = {}
    for limit in limits:
        guard_module.LONG_WORDS = limit
        guard = guard_module.guarded(router)
        row: dict[str, object] = {}
        for name, prompts in splits.items():
            clean = np.asarray(guard.predict_proba(prompts), dtype=np.float64)
            threshold = threshold_for_fraction(clean, 0.5)
            row[name] = {f"{where}_{n}": saturated_bound(router.predict_proba, prompts, n, where, threshold)
                         for where in ("prefix", "suffix") for n in (4, 8, 12)}
            row[name]["cost_model_mean_ratio"] = cost_ratio(router, guard_module, prompts,  # type: ignore[index]
                                                            np.asarray(router.predict_proba(prompts)), threshold)
        rows["full grid" if limit == FULL_GRID else str(limit)] = row
        print("shipped mf, LONG_WORDS", limit, json.dumps(row), flush=True)
    return rows


def small_router_rows(limits: list[int]) -> dict[str, object]:
    import tempfile

    from routellm_core import guard as guard_module
    from routellm_core.calibration import threshold_for_fraction
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.loaders import load_alpaca_eval
    from routellm_core.routers.mf import MFRouter
    from routellm_core.server.routing import use_memory_embedder

    records = load_alpaca_eval(annotators=["weighted_alpaca_eval_gpt4_turbo"])
    keep = set(sorted({r.prompt for r in records})[:150])
    with tempfile.TemporaryDirectory() as tmp:  # trained and loaded as the tests' small router is
        MFRouter(epochs=30, show_progress=False).fit([r for r in records if r.prompt in keep]).save(Path(tmp) / "mf")
        from routellm_core import load_router

        router = load_router(str(Path(tmp) / "mf"), cache=False)
    use_memory_embedder(router)
    prompts = [q.prompt for q in arena_hard_questions()]
    random.Random(1).shuffle(prompts)  # the tests' split
    search_prompts, test_held, held = prompts[:8], prompts[8:38], prompts[8:308]
    vocab = vocabulary(search_prompts + test_held, size=150)
    rows: dict[str, object] = {}
    for limit in limits:
        guard_module.LONG_WORDS = limit
        guard = guard_module.guarded(router)
        row = {}
        for where in ("prefix", "suffix"):
            gadget = search(guard.predict_proba, search_prompts[:4], vocab, words=12, rounds=1, candidates=4, where=where)[0]
            # calibrated here, not by RoutingPolicy: its calibration cache (per router object and prompts)
            # would keep the first limit's threshold for the others
            clean = np.asarray(guard.predict_proba(held))
            threshold = threshold_for_fraction(clean, 0.5)
            attacked = np.asarray(guard.predict_proba([apply(gadget, p, where) for p in held]))
            row[f"{where}_12_points"] = round(100 * float(np.mean(attacked >= threshold) - np.mean(clean >= threshold)), 1)
        rows["full grid" if limit == FULL_GRID else str(limit)] = row
        print("small mf, LONG_WORDS", limit, json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", type=int, nargs="+", default=[60, 80, 100, 120])
    parser.add_argument("--select", type=int, default=200)
    parser.add_argument("--eval-prompts", type=int, default=490)
    parser.add_argument("--small-router", action="store_true")
    parser.add_argument("--output", default=str(HERE / "results" / "guard_long_texts.json"))
    args = parser.parse_args()
    limits = [FULL_GRID, *args.limits]
    out: dict[str, object] = {"limits": args.limits, "select": args.select, "eval_prompts": args.eval_prompts,
                              "shipped_mf": shipped_router_rows(limits, args.select, args.eval_prompts)}
    if args.small_router:
        out["small_mf"] = small_router_rows(limits)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
