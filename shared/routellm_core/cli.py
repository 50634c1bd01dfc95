"""``routellm-core``: train, calibrate, route, download, info (+ evaluate, serve and ui when installed).

User errors print one line to stderr and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import InvalidInputError, RouteLLMError
from .training import DEFAULT_DATASETS

# Subcommands that live in their own packages: each module exposes register(subparsers).
EXTENSIONS = ("routellm_core.evaluation.cli", "routellm_core.server.cli", "routellm_core.ui_cli",
              "routellm_core.own_router.cli")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 2 with one line (argparse's own convention, kept short)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt or [])
    if getattr(args, "prompts_file", None):
        path = Path(args.prompts_file)
        if not path.is_file():
            raise InvalidInputError(f"prompts file not found: {path}")
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                value = line
            prompts.append(value["prompt"] if isinstance(value, dict) and "prompt" in value else str(value))
    return prompts


def cmd_train(args: argparse.Namespace) -> int:
    from .training import default_router, default_router_path, default_training_records

    if args.recipe:
        return _train_recipe(args)
    args.router = args.router or "mf"
    records = default_training_records(args.data_dir, args.dataset, not args.no_decontaminate, args.embedder,
                                       limit=args.limit, log=lambda msg: print(msg, file=sys.stderr))
    if not records:
        raise InvalidInputError(f"no training records in {', '.join(map(str, args.dataset))} (empty file?)")
    if args.init or args.add_model:  # warm start / a new model: routellm_core.own_router
        from .own_router.cli import train_own

        return train_own(args, records)
    params = json.loads(args.params) if args.params else {}
    if not isinstance(params, dict):
        raise InvalidInputError("--params must be a JSON object")
    if args.router in {"mf", "sw_ranking"} and not {"strong_model", "weak_model"} & set(params):
        from .own_router.warm_start import pair_of

        try:  # the data's two models are the pair (or --strong/--weak); the default pair otherwise
            params["strong_model"], params["weak_model"] = pair_of(records, args.strong, args.weak)
        except InvalidInputError:
            if args.strong or args.weak:
                raise
    if args.router in {"mf", "sw_ranking"}:
        params.setdefault("embedder", args.embedder)
    output = Path(args.output) if args.output else default_router_path(args.router)
    try:
        router = default_router(args.router, **params)
    except TypeError as exc:
        raise InvalidInputError(f"bad --params for router {args.router!r}: {exc}") from None
    router.fit(records).save(output)
    print(json.dumps({"router": args.router, "checkpoint": str(output), "records": len(records)}))
    return 0


RECIPES = ("default", "cascade", "static-embedder", "static")


def _train_recipe(args: argparse.Namespace) -> int:
    """``train --recipe default``: rebuild the shipped default checkpoints (or ``--router``'s) with manifests."""
    from .recipe import build_default_checkpoints
    from .routers.defaults import SHIPPED_ROUTERS, STATIC_ROUTERS
    from .routers.registry import router_class

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    if args.recipe not in RECIPES:
        raise InvalidInputError(f"unknown recipe {args.recipe!r}: choose one of {', '.join(RECIPES)}")
    if args.recipe == "cascade":
        return _train_cascade_recipe(args)
    if args.recipe == "static-embedder":
        from .embeddings.static import distill_static

        print(json.dumps({"recipe": args.recipe, "embedder": str(distill_static(args.output, log=log))}))
        return 0
    routers = [args.router] if args.router else list(SHIPPED_ROUTERS if args.recipe == "default" else STATIC_ROUTERS)
    for name in routers:
        router_class(name)  # an unknown name fails before minutes of data loading
    if args.recipe == "static":  # the opt-in fast routers: same records, the distilled static embedder
        built = build_default_checkpoints(args.output, routers, args.data_dir, log=log, training_embedder="minilm-static",
                                          inference_embedder="minilm-static", suffix="-static")
    else:
        built = build_default_checkpoints(args.output, routers, args.data_dir, log=log)
    print(json.dumps({"recipe": args.recipe, "checkpoints": {k: str(v) for k, v in built.items()}}))
    return 0


def _train_cascade_recipe(args: argparse.Namespace) -> int:
    """``train --recipe cascade``: rebuild the shipped answer scorers (or ``--router default|features``'s)."""
    from .cascade.default import SHIPPED_SCORERS, build_scorer_checkpoints

    names = [args.router] if args.router else list(SHIPPED_SCORERS)
    built = build_scorer_checkpoints(args.output, names, args.data_dir, log=lambda msg: print(msg, file=sys.stderr))
    print(json.dumps({"recipe": "cascade", "checkpoints": {k: str(v) for k, v in built.items()}}))
    return 0


def cmd_check_answer(args: argparse.Namespace) -> int:
    """The cascade's answer stage for one (prompt, answer): P(inadequate) and whether it escalates."""
    from .cascade_policy import CascadePolicy

    if not (args.prompt or "").strip():
        raise InvalidInputError("no prompt given: use --prompt TEXT")
    policy = CascadePolicy(scorer=args.scorer, escalate_threshold=args.escalate_threshold)
    check = policy.check([args.prompt], [args.answer or ""])[0]
    print(json.dumps({"scorer": args.scorer, "p_inadequate": check.p_inadequate, "escalate_threshold": check.threshold,
                      "escalate": check.escalate, "skipped": check.skipped}))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from . import calibrate_threshold, load_router

    prompts = _read_prompts(args)
    if not prompts and args.benchmark:
        from .decontaminate import benchmark_prompts

        prompts = benchmark_prompts(args.data_dir, [args.benchmark])
    if not prompts:
        raise InvalidInputError("no calibration prompts: give --prompt, --prompts-file or --benchmark")
    router = load_router(args.router)
    threshold = calibrate_threshold(router, prompts, args.strong_fraction)
    print(json.dumps({"router": args.router, "strong_fraction": args.strong_fraction, "threshold": threshold,
                      "prompts": len(prompts)}))
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    """One JSON line per prompt: the decision layer's metadata (the same fields every front-end reports)."""
    from .policy import RoutingPolicy
    from .routers.base import check_prompts, check_threshold

    prompts = _read_prompts(args)
    if not prompts:
        raise InvalidInputError("no prompt given: use --prompt TEXT or --prompts-file FILE")
    check_prompts(prompts)
    calibration = _read_prompts(argparse.Namespace(prompt=None, prompts_file=args.calibration_file))
    threshold = 0.5 if args.threshold is None and args.strong_fraction is None else args.threshold
    threshold = None if threshold is None else check_threshold(threshold)
    policy = RoutingPolicy(args.router, threshold=threshold, strong_fraction=args.strong_fraction,
                           calibration_prompts=tuple(calibration))
    for decision in policy.decide(prompts):
        print(json.dumps(policy.metadata(decision)))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from .datadir import default_cache_dir
    from .download import download

    dest = Path(args.dest) if args.dest else default_cache_dir() / "data"
    done, skipped = download(args.sums, dest)
    print(json.dumps({"dest": str(dest), "files": len(done), "without_upstream_url": skipped}))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from . import __version__, router_names
    from .datadir import default_cache_dir, resolve_data_dir
    from .routers.defaults import find_default_checkpoint

    def default_checkpoint(name: str) -> str | None:
        try:
            return str(find_default_checkpoint(name))
        except RouteLLMError:
            return None

    try:
        data_dir: str | None = str(resolve_data_dir(args.data_dir))
    except RouteLLMError as exc:
        data_dir = f"not found ({exc})"
    info = {
        "version": __version__, "routers": router_names(), "data_dir": data_dir,
        "cache_dir": str(default_cache_dir()), "default_training_data": list(DEFAULT_DATASETS),
        "default_checkpoints": {n: path for n in ("mf", "sw_ranking", "bert", "causal_llm")
                                if (path := default_checkpoint(n)) is not None},
    }
    if args.router:
        from .routers.checkpoint import read_config

        given = Path(args.router)
        info["checkpoint"] = read_config(given if given.exists() else find_default_checkpoint(args.router))
    print(json.dumps(info, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="routellm-core", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="data directory (default: $ROUTELLM_DATA_DIR or ../shared/data)")
    parser.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default=None,
                        help="progress of long work: a bar on a terminal, a start and an end line elsewhere (auto, "
                             "default: $ROUTELLM_PROGRESS), or always bars / lines / nothing")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a router on preference data and save a checkpoint")
    p.add_argument("--router", help="router kind: mf (default), sw_ranking, bert, causal_llm")
    p.add_argument("--recipe", help="'default': rebuild the checkpoints shipped with the package "
                                    "(mf and sw_ranking, or --router's) with their manifests; --output is then a folder. "
                                    "'cascade': rebuild the shipped answer scorers (default and features, or --router's); "
                                    "'static-embedder': distil MiniLM into the static embedder (model2vec); "
                                    "'static': train the opt-in fast router (mf-static) on it")
    p.add_argument("--dataset", nargs="+", default=list(DEFAULT_DATASETS),
                   help="routerbench, mmlu, gsm8k, mt-bench (golden labels), arena_hard (judge verdicts), "
                        "chatbot_arena (human votes), alpaca_eval, or .jsonl/.csv files")
    p.add_argument("--output", help="checkpoint directory (default: the cache's default checkpoint)")
    p.add_argument("--embedder", default="minilm", help="minilm, hf:/path, openai:text-embedding-3-small")
    p.add_argument("--params", help="router constructor parameters as a JSON object")
    p.add_argument("--limit", type=int, help="use only the first N records")
    p.add_argument("--no-decontaminate", action="store_true", help="keep prompts that duplicate benchmark prompts")
    p.add_argument("--strong", help="strong model of the pair (default: the data's two models, the one winning more)")
    p.add_argument("--weak", help="weak model of the pair")
    p.add_argument("--init", help="warm-start an MF pair router from this router ('mf': the shipped default)")
    p.add_argument("--add-model", help="fit only this new model's vector into the many-model MF router (--init's)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("calibrate", help="threshold that sends a share of prompts to the strong model")
    p.add_argument("--router", default="mf")
    p.add_argument("--strong-fraction", type=float, default=0.5)
    p.add_argument("--prompt", action="append", help="a calibration prompt (repeatable)")
    p.add_argument("--prompts-file", help="text/JSONL file with one prompt per line")
    p.add_argument("--benchmark", choices=["mt-bench", "mmlu", "gsm8k"], help="calibrate on a benchmark's prompts")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("route", help="routing decision(s) as JSON")
    p.add_argument("--router", default="mf")
    p.add_argument("--threshold", help="strong iff P(strong wins) >= threshold (default 0.5)")
    p.add_argument("--strong-fraction", type=float, help="instead of --threshold: the share of the calibration "
                   "prompts to send to the strong model")
    p.add_argument("--calibration-file", help="text/JSONL file of calibration prompts for --strong-fraction")
    p.add_argument("--prompt", action="append", help="prompt to route (repeatable)")
    p.add_argument("--prompts-file", help="text/JSONL file with one prompt per line")
    p.set_defaults(func=cmd_route)

    p = sub.add_parser("check-answer", help="the cascade's answer stage: P(inadequate) of an answer, escalate or not")
    p.add_argument("--prompt", required=True)
    p.add_argument("--answer", required=True, help="the weak model's answer")
    p.add_argument("--scorer", default="default", help="'default', 'features' or a scorer checkpoint directory")
    p.add_argument("--escalate-threshold", type=float, default=0.5, help="escalate iff P(inadequate) >= this")
    p.set_defaults(func=cmd_check_answer)

    p = sub.add_parser("download", help="fetch the public data files at pinned commits (needs internet)")
    p.add_argument("--sums", default=str(Path(__file__).with_name("data_sha256sums.txt")),
                   help="SHA256SUMS file listing the files (default: the copy shipped with this package)")
    p.add_argument("--dest", help="destination directory (default: <cache>/data)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("info", help="version, routers, data and cache locations")
    p.add_argument("--router", help="also show this checkpoint's config")
    p.set_defaults(func=cmd_info)

    for module in EXTENSIONS:
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith(module.rsplit(".", 1)[0]):
                raise
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data_dir and not Path(args.data_dir).is_dir():
        print(f"routellm-core: error: data directory not found: {args.data_dir}", file=sys.stderr)
        return 2
    if args.data_dir:
        import os

        os.environ["ROUTELLM_DATA_DIR"] = args.data_dir
    if args.progress:  # read by routellm_core.progress wherever long work reports progress
        import os

        from .progress import PROGRESS_ENV

        os.environ[PROGRESS_ENV] = args.progress
    try:
        return int(args.func(args) or 0)
    except RouteLLMError as exc:
        print(f"routellm-core: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
