"""``routellm-core label`` and ``routellm-core report``, and the ``train --init`` / ``--add-model`` paths.

Bad input (a missing or empty file, a malformed row, an unknown model) is a RouteLLMError naming the
file and line; the main CLI prints it as one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import InvalidInputError


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def _client(spec: str, role: str, args: argparse.Namespace, prices: dict):
    from ..models import canonical_model_name
    from .clients import OpenAICompatibleClient

    model, _, base_url = spec.partition("@")
    if not model.strip():
        raise InvalidInputError(f"--{role} needs MODEL or MODEL@BASE_URL, got {spec!r}")
    env = f"ROUTELLM_{role.upper()}_API_KEY"
    return OpenAICompatibleClient(model, base_url or None, api_key_env=env if os.environ.get(env) else args.api_key_env,
                                  timeout=args.timeout, price=prices.get(canonical_model_name(model)))


def cmd_label(args: argparse.Namespace) -> int:
    from ..pricing import parse_price
    from .labeller import Labeller
    from .prompts import read_prompts

    items = read_prompts(args.prompts)
    prices = dict(parse_price(p) for p in args.price or [])
    labeller = Labeller(_client(args.strong, "strong", args, prices), _client(args.weak, "weak", args, prices),
                        _client(args.judge, "judge", args, prices), concurrency=args.concurrency, retries=args.retries,
                        backoff=args.backoff, max_cost=args.max_cost, log=_log)
    stats = labeller.label(items, args.output)
    print(json.dumps({"output": str(args.output), **stats.to_dict()}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import own_router_report, render

    plot = None if args.no_plot else (args.plot or str(Path(args.labels).with_suffix("")) + ".learning_curve.png")
    report = own_router_report(args.labels, init=args.init, strong=args.strong, weak=args.weak, folds=args.folds,
                               strong_share=args.strong_share, plot=plot, seed=args.seed, n_boot=args.bootstrap,
                               log=_log)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def train_own(args: argparse.Namespace, records) -> int:
    """``train --init ROUTER`` (warm-started pair router) or ``train --add-model NAME`` (many-model MF)."""
    from ..datadir import default_cache_dir
    from .warm_start import add_model, save_with_summary, warm_start

    default_output = default_cache_dir() / "routers" / ("mf-added" if args.add_model else "mf-own")

    where = ", ".join(Path(d).name for d in args.dataset)
    if args.add_model:
        router = add_model(records, args.add_model, init=args.init or "mf", where=where, log=_log)
        output = Path(args.output) if args.output else default_output
        path = save_with_summary(router, output, {"added_model": router.models_[-1], "base": args.init or "mf"})
        print(json.dumps({"router": "mf", "checkpoint": str(path), "added_model": router.models_[-1],
                          "models": len(router.models_), "records": len(records)}))
        return 0
    result = warm_start(records, init=args.init, strong=args.strong, weak=args.weak, where=where, log=_log)
    output = Path(args.output) if args.output else default_output
    path = save_with_summary(result.router, output, result.summary())
    print(json.dumps({"router": "mf", "checkpoint": str(path), "records": len(records), **result.summary()}))
    return 0


def register(sub) -> None:
    p = sub.add_parser("label", help="label your prompts: strong and weak answers, a judge's pairwise verdict")
    p.add_argument("--prompts", required=True, help="JSONL, CSV, one prompt per line, a LangSmith run export or "
                                                    "the server's request log")
    p.add_argument("--output", required=True, help="labels JSONL (appended to; a rerun resumes)")
    p.add_argument("--strong", required=True, help="strong model: MODEL or MODEL@BASE_URL (OpenAI-compatible)")
    p.add_argument("--weak", required=True, help="weak model: MODEL or MODEL@BASE_URL")
    p.add_argument("--judge", required=True, help="judge model: MODEL or MODEL@BASE_URL")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key (ROUTELLM_STRONG/WEAK/JUDGE_API_KEY win)")
    p.add_argument("--price", action="append", help="MODEL=IN[,OUT] USD per million tokens (repeatable)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at most")
    p.add_argument("--retries", type=int, default=3, help="retries per call (exponential backoff), then an error row")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds (doubles)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--max-cost", type=float, help="stop taking new prompts before this many USD are spent")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("report", help="own router vs the default vs random on your labels (cross-fitted)")
    p.add_argument("--labels", required=True, help="labels JSONL (from `label`) or a correctness CSV")
    p.add_argument("--init", default="mf", help="the default to compare with and warm-start from (mf or a checkpoint)")
    p.add_argument("--strong", help="strong model (default: the labels' pair, the model winning more)")
    p.add_argument("--weak", help="weak model")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--strong-share", type=float, default=0.5, help="report the threshold giving this share")
    p.add_argument("--plot", help="learning curve PNG (default: beside the labels)")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 90%% intervals")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_report)
