"""LangChain quickstart: a routed chat model in an LCEL chain over real GSM8K questions.

    make demo                      # or: python examples/langchain_quickstart.py

With ``OPENAI_API_KEY`` set (and optionally ``OPENAI_BASE_URL``, ``ROUTELLM_STRONG_MODEL``,
``ROUTELLM_WEAK_MODEL``) the chain calls those models. Without it, a replay chat model answers
with the answers gpt-4-1106-preview and Mixtral-8x7B gave to the same questions in RouteLLM's
GSM8K run, so you see real answers offline. Either way you see each routing decision and what
each call cost (prices: ``ROUTELLM_STRONG_PRICE`` / ``ROUTELLM_WEAK_PRICE`` as "in,out" dollars
per 1M tokens; defaults are the paper's estimates, $24.7 for GPT-4 and $0.24 for Mixtral).

The default router ``mf`` ships with the package (nothing to train); ``--router PATH`` uses a checkpoint instead. Its training data includes GSM8K's golden
labels, so this shows how routing works, not how well: README's Results are measured out-of-fold.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from langchain_routellm import ChatRouteLLM, ReplayChatModel, load_gsm8k
from langchain_routellm.pricing import DEFAULT_PRICES, call_cost, price_from_env
from routellm_core import STRONG_MODEL, WEAK_MODEL, RouteLLMError, load_router
from routellm_core.calibration import comparison_text

SYSTEM = "Solve the grade-school math problem step by step. End with the final numeric answer."


def build_models(data_dir: str | None):
    """(strong, weak, replaying?) from the environment: real OpenAI models, or recorded answers."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        strong_name = os.environ.get("ROUTELLM_STRONG_MODEL", "gpt-4o")
        weak_name = os.environ.get("ROUTELLM_WEAK_MODEL", "gpt-4o-mini")
        base_url = os.environ.get("OPENAI_BASE_URL")
        print(f"OPENAI_API_KEY is set: routing between {strong_name} (strong) and {weak_name} (weak)"
              + (f" at {base_url}" if base_url else ""))
        return ChatOpenAI(model=strong_name, base_url=base_url), ChatOpenAI(model=weak_name, base_url=base_url), False
    print("OPENAI_API_KEY is not set: replaying the answers gpt-4-1106-preview (strong) and Mixtral-8x7B (weak)\n"
          "gave to these GSM8K questions in RouteLLM's evaluation (real answers, no API calls; token counts approximate).")
    return (ReplayChatModel.from_gsm8k(STRONG_MODEL, data_dir), ReplayChatModel.from_gsm8k(WEAK_MODEL, data_dir), True)


def final_line(answer: str, width: int = 110) -> str:
    """The answer's last line (where GSM8K answers state the result), its end if it is long."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if len(last) <= width else "..." + last[-width:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="mf", help="router name or checkpoint directory (default: mf)")
    parser.add_argument("--questions", type=int, default=6, help="GSM8K questions to answer (default: 6)")
    parser.add_argument("--strong-fraction", type=float, default=0.5, help="share of strong calls to calibrate for")
    parser.add_argument("--calibration-size", type=int, default=200, help="GSM8K questions to calibrate on")
    parser.add_argument("--data-dir", default=None, help="data directory (default: $ROUTELLM_DATA_DIR or ../shared/data)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except RouteLLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    if args.questions < 1 or args.calibration_size < 1:
        raise RouteLLMError("--questions and --calibration-size must be at least 1")
    items = load_gsm8k(args.data_dir)
    sample = random.Random(args.seed).sample(items, min(len(items), args.calibration_size + args.questions))
    calibration, questions = [i.prompt for i in sample[: args.calibration_size]], sample[args.calibration_size :]
    strong, weak, replaying = build_models(args.data_dir)
    prices = {"strong": price_from_env("ROUTELLM_STRONG_PRICE", DEFAULT_PRICES[STRONG_MODEL]),
              "weak": price_from_env("ROUTELLM_WEAK_PRICE", DEFAULT_PRICES[WEAK_MODEL])}
    print(f"prices per 1M tokens (in/out): strong ${prices['strong'].input_per_million}/${prices['strong'].output_per_million}, "
          f"weak ${prices['weak'].input_per_million}/${prices['weak'].output_per_million}")

    print(f"\nloading router {args.router!r} (the default 'mf' ships with the package)")
    start = time.perf_counter()
    router = load_router(args.router)
    llm = ChatRouteLLM(strong=strong, weak=weak, router=router, strong_fraction=args.strong_fraction,
                       calibration_prompts=calibration)
    threshold = llm.policy.resolved_threshold()
    print(f"router ready in {time.perf_counter() - start:.1f}s; threshold {threshold:.4f} sends "
          f"{args.strong_fraction:.0%} of {len(calibration)} GSM8K questions to the strong model")

    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])
    chain = prompt | llm
    print(f"\nchain: prompt | ChatRouteLLM -- batch of {len(questions)} questions (routed with one router call)\n")
    messages = chain.batch([{"question": q.prompt} for q in questions])
    total, all_strong = 0.0, 0.0
    for n, (item, message) in enumerate(zip(questions, messages), 1):
        meta, usage = message.response_metadata["routellm"], message.usage_metadata
        cost = call_cost(usage, prices[meta["role"]]) or 0.0
        total += cost
        print(f"Q{n}. {item.prompt[:100]}{'...' if len(item.prompt) > 100 else ''}")
        p, t, relation = comparison_text(meta["probability"], meta["threshold"])  # enough digits to compare
        print(f"    routed to {meta['role']} ({meta['model']}): P(strong wins)={p} is {relation} "
              f"threshold {t}{'  [fallback]' if meta['fallback'] else ''}")
        print(f"    answer: {final_line(message.text)}")
        if replaying:
            print(f"    recorded as correct: {item.correct.get(meta['model'])}")
            strong_usage = strong.invoke(prompt.invoke({"question": item.prompt})).usage_metadata
            all_strong += call_cost(strong_usage, prices["strong"]) or 0.0
        if usage:
            print(f"    tokens in/out: {usage['input_tokens']}/{usage['output_tokens']}"
                  f"{' (approx.)' if replaying else ''}  cost ${cost:.5f}")
    n_strong = sum(m.response_metadata["routellm"]["role"] == "strong" for m in messages)
    print(f"\n{n_strong}/{len(messages)} calls went to the strong model; total cost ${total:.5f}"
          + (f" (all on the strong model: ${all_strong:.5f})" if replaying else ""))

    first = {"question": questions[0].prompt}
    print("\nper-call routing through chain kwargs (config={'configurable': {'routellm_threshold': t}}):")
    for t in (0.0, 1.0):
        role = chain.invoke(first, config={"configurable": {"routellm_threshold": t}}).response_metadata["routellm"]["role"]
        print(f"    routellm_threshold={t}: Q1 -> {role}")

    print("\nstreaming Q1 through prompt | ChatRouteLLM | StrOutputParser:\n    ", end="")
    for piece in (prompt | llm | StrOutputParser()).stream(first):
        print(piece.replace("\n", "\n    "), end="", flush=True)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
