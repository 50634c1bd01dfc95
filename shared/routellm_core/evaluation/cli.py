"""``routellm-core evaluate``: routers on the paper's benchmarks (or your own tables).

The main CLI calls :func:`register`; ``python -m routellm_core.evaluation.cli`` runs it alone.
User errors raise :class:`routellm_core.errors.RouteLLMError` (the CLI prints one line, exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..errors import InvalidInputError, RouteLLMError

DEFAULT_ROUTERS = ["random", "mf", "sw_ranking"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand (``set_defaults(func=handler)``)."""
    p = subparsers.add_parser(
        "evaluate", help="evaluate routers on MT-Bench, MMLU, GSM8K or your own benchmark table",
        description="Evaluate routers with the RouteLLM paper's procedure: performance vs. % strong calls at the "
                    "edges of quantile bins of router scores, CPT(20/50/80%), AUC, APGR, cost saving, plots.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--benchmark", "-b", nargs="+", required=True, metavar="NAME",
                   help="mt-bench, mmlu, gsm8k, arena, all (the four), arena-answers (Arena on a pair with recorded answers, for "
                        "cascade routers), or a table: correctness .csv (prompt + 0/1 column per model) "
                        "or judged-score .jsonl/.csv (id, model, score)")
    p.add_argument("--routers", "-r", nargs="+", default=DEFAULT_ROUTERS, metavar="ROUTER",
                   help="router names (random, mf, sw_ranking, bert, causal_llm, oracle), checkpoint directories, or the "
                        "answer-aware cascades cascade / cascade-features (need recorded weak answers: arena-answers, gsm8k)")
    p.add_argument("--output", "-o", default="results/evaluation", help="folder for results.json/.md, CSVs and plots")
    p.add_argument("--num-results", type=int, default=10, help="quantile bins of router scores (the paper: 10)")
    p.add_argument("--random-seeds", type=int, default=20, help="seeds the random router is averaged over")
    p.add_argument("--cross-fit", type=int, default=None, metavar="K",
                   help="train K routers on the default data + the benchmark's golden labels of the other folds "
                        "(folds grouped by MMLU domain / MT-Bench category) and score each prompt out-of-fold; "
                        "K=1: one router trained without any of the benchmark's items. Default routers, whose "
                        "data holds the benchmarks' labels, are always scored this way (K=5 unless given)")
    p.add_argument("--cross-fit-seed", type=int, default=0, help="fold assignment seed (ungrouped benchmarks)")
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="evaluate a seeded random sample of N items per benchmark (for slow routers such as causal_llm)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of --sample")
    p.add_argument("--cross-fit-by-item", action="store_true",
                   help="random item folds even where the benchmark has domains/categories (the held-out "
                        "domains are then seen in training, as with the paper's MMLU validation-split labels)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap replicates for the 90%% interval of APGR (0: no interval)")
    p.add_argument("--quality", type=float, default=0.95,
                   help="report the cost saving at this fraction of the strong model's quality")
    p.add_argument("--price", action="append", default=[], metavar="MODEL=IN[,OUT]",
                   help="USD per million input[,output] tokens (default: the paper's $24.7 GPT-4, $0.24 Mixtral)")
    p.add_argument("--no-cost", action="store_true", help="skip token counts and cost saving")
    p.add_argument("--no-plot", action="store_true", help="do not write PNG plots")
    p.add_argument("--no-cache", action="store_true", help="recompute router scores (neither the cache nor the default "
                   "routers' shipped scores are read; the cache is not written)")
    p.add_argument("--cache-dir", default=argparse.SUPPRESS, help="score/embedding cache (default $ROUTELLM_CACHE_DIR/eval)")
    p.add_argument("--data-dir", default=argparse.SUPPRESS, help="data directory (default $ROUTELLM_DATA_DIR or ../shared/data)")
    p.add_argument("--json", action="store_true", help="print results.json to stdout instead of the table")
    p.add_argument("--train-datasets", nargs="+", metavar="NAME", default=None,
                   help="what cross-fitted routers train on (default: the shipped recipe's routerbench mmlu gsm8k "
                        "mt-bench); e.g. add arena_hard chatbot_arena for the Arena recipe (docs/quality.md)")
    p.add_argument("--multi-model", action="store_true",
                   help="route among every model of the benchmark by price (routerbench, arena): quality-vs-cost "
                        "curves, AIQ, single models, oracle and random mix (see docs/multi-model.md)")
    p.add_argument("--embedder", default=None, help="--multi-model: embedder of the cross-fitted mf routers "
                                                    "(default minilm-bf16, the training recipe's)")
    p.add_argument("--prompt-weight", default="validation", help="--multi-model: mf's prompt weight, a number in "
                   "[0, 1] (1 = the paper's MF, 0 = prompt-blind model strengths) or 'validation' (default: picked "
                   "on each fold's validation prompts)")
    custom = p.add_argument_group("your own benchmark tables")
    custom.add_argument("--strong-model", help="strong model's column (correctness) or model name (judged); for arena "
                                               "a model with Arena-Hard verdicts (default gpt-4o)")
    custom.add_argument("--weak-model", help="weak model's column (correctness) or model name (judged); for arena "
                                             "default llama-3.1-70b-instruct")
    custom.add_argument("--prompt-column", default="prompt", help="prompt column of a table")
    custom.add_argument("--group-column", help="column with a domain/category per prompt (cross-fitting folds)")
    custom.add_argument("--prompts", help="judged tables without a prompt column: JSONL with the id and prompt/turns")
    custom.add_argument("--mmlu-domains", nargs="+", metavar="DOMAIN", help="evaluate only these MMLU domains")
    p.set_defaults(func=handler)
    return p


def _benchmarks(args: argparse.Namespace):
    from .benchmarks import BENCHMARK_NAMES, load_benchmark

    names: list[str] = []
    for name in args.benchmark:
        names += list(BENCHMARK_NAMES) if name.strip().lower() == "all" else [name]
    data_dir = getattr(args, "data_dir", None)
    out = []
    for name in dict.fromkeys(names):
        key = name.strip().lower()
        if key in {"mt-bench", "mt_bench", "mtbench", "gsm8k"}:
            out.append(load_benchmark(key, data_dir))
        elif key in {"arena", "arena-hard", "arena_hard", "arena-answers", "arena_answers"}:
            out.append(load_benchmark(key, data_dir, strong_model=args.strong_model, weak_model=args.weak_model))
        elif key == "mmlu":
            out.append(load_benchmark(key, data_dir, domains=args.mmlu_domains))
        else:
            path = Path(name).expanduser()
            kwargs = {"strong_model": args.strong_model, "weak_model": args.weak_model,
                      "prompt_column": args.prompt_column, "group_column": args.group_column}
            if path.suffix in {".jsonl", ".json"} or args.prompts:
                kwargs["prompts"] = args.prompts
            out.append(load_benchmark(str(path), **kwargs))
    if args.sample is not None:
        out = [sample_benchmark(b, args.sample, args.sample_seed) for b in out]
    return out


def sample_benchmark(bench, n: int, seed: int = 0):
    """A seeded random subset of ``n`` items (all of them when the benchmark is that small)."""
    import numpy as np

    if n < 2:
        raise InvalidInputError(f"--sample needs at least 2 items, got {n}")
    if n >= bench.n:
        return bench
    keep = np.sort(np.random.default_rng(seed).choice(bench.n, n, replace=False))
    return bench.subset(keep, name=f"{bench.name}-sample{n}")


def handler(args: argparse.Namespace) -> int:
    """Run the evaluation; print the table (or JSON); write results, CSVs and plots under ``--output``."""
    from .cache import ScoreCache
    from .cost import parse_price
    from .report import format_table, markdown_results, write_outputs
    from .runner import Evaluator, stderr_log

    if getattr(args, "multi_model", False):
        from .multi_cli import multi_model_handler

        return multi_model_handler(args)
    if not 0 < args.quality <= 1:
        raise InvalidInputError(f"--quality must be in (0, 1], got {args.quality}")
    prices = dict(parse_price(p) for p in args.price)
    cache = None if args.no_cache else ScoreCache(getattr(args, "cache_dir", None))
    evaluator = Evaluator(num_results=args.num_results, random_seeds=args.random_seeds, cross_fit=args.cross_fit,
                          cross_fit_seed=args.cross_fit_seed,
                          cross_fit_grouped=not args.cross_fit_by_item, cache=cache, prices=prices,
                          quality_fraction=args.quality, bootstrap=args.bootstrap,
                          data_dir=getattr(args, "data_dir", None), with_cost=not args.no_cost, log=stderr_log,
                          train_datasets=args.train_datasets, shipped=not args.no_cache)
    start = time.perf_counter()
    benchmarks = _benchmarks(args)
    output = Path(args.output)
    results = []
    for bench in benchmarks:
        res = evaluator.evaluate(bench, args.routers)
        if not args.no_plot:
            from .plot import save_plot

            res.plot_path = save_plot(res, output / f"{bench.name}.png")
        results.append(res)
    paths = write_outputs(results, output)
    table = format_table(results)
    (output / "results.txt").write_text(table + "\n\n" + markdown_results(results), encoding="utf-8")
    if args.json:
        print(json.dumps(json.loads(paths["json"].read_text(encoding="utf-8")), indent=2))
    else:
        print(table)
    written = [str(p) for p in paths.values()] + [str(r.plot_path) for r in results if r.plot_path]
    stderr_log(f"wrote {', '.join(written)} ({time.perf_counter() - start:.1f}s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point with the main CLI's error convention (one line on stderr, exit 2)."""
    parser = argparse.ArgumentParser(prog="routellm-core")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RouteLLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
