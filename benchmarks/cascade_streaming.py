"""Time to first token of a streamed cascade, against plain routing, on loopback OpenAI servers.

A cascade has to read the weak model's whole answer and score it before it can stream anything,
so its time to first token (TTFT) is the weak model's whole generation time plus the scoring time;
an escalation adds the strong model's TTFT on top. This script measures it with ChatRouteLLM.stream
against two stub servers that stream a real 300-word Arena answer one word per chunk, ``--token-ms``
apart (a model's generation speed), and prints medians per mode as JSON:

- ``routed_weak``: no cascade, the prompt router picks the weak model (the baseline);
- ``cascade_kept``: cascade, the weak answer is kept (forced escalate threshold 1.0);
- ``cascade_escalated``: cascade, the weak answer is thrown away (forced threshold 0.0).

    .venv/bin/python benchmarks/cascade_streaming.py --scorer features --token-ms 10 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scorer", default="features", help="'default', 'features' or a scorer checkpoint")
    ap.add_argument("--token-ms", type=float, default=10.0, help="ms between streamed words (both models)")
    ap.add_argument("--words", type=int, default=300, help="length of the weak and strong answers, in words")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from langchain_openai import ChatOpenAI

    from langchain_routellm import ChatRouteLLM
    from routellm_core.cascade.records import answer_records
    from routellm_core.cascade_policy import load_scorer
    from routellm_core.testing import OpenAIStubServer

    row = next(r for r in answer_records(sources=["arena_hard"]) if len(r.answer.split()) >= args.words)
    answer = " ".join(row.answer.split()[: args.words])
    scorer = load_scorer(args.scorer)
    scorer.predict_proba([row.prompt], [answer])  # loads the encoder once, outside the timings

    def client(server):
        return ChatOpenAI(model=server.model, base_url=server.base_url, api_key="bench", max_retries=0, timeout=60)

    with OpenAIStubServer(model="strong") as strong, OpenAIStubServer(model="weak") as weak:
        for server in (strong, weak):
            server.responder = lambda body: answer
            server.chunk_delay = args.token_ms / 1000
        pair = {"strong": client(strong), "weak": client(weak)}
        modes = {
            "routed_weak": ChatRouteLLM(**pair, router="random", threshold=1.0),
            "cascade_kept": ChatRouteLLM(**pair, cascade={"scorer": scorer, "escalate_threshold": 1.0}),
            "cascade_escalated": ChatRouteLLM(**pair, cascade={"scorer": scorer, "escalate_threshold": 0.0}),
        }
        results = {}
        for name, llm in modes.items():
            ttft, total = [], []
            for i in range(args.runs):
                start, first = time.perf_counter(), None
                for chunk in llm.stream(f"{row.prompt} (run {i})"):
                    if first is None and chunk.content:
                        first = time.perf_counter() - start
                total.append((time.perf_counter() - start) * 1000)
                ttft.append((first or 0.0) * 1000)
            results[name] = {"ttft_ms": round(statistics.median(ttft), 1), "total_ms": round(statistics.median(total), 1)}
    base = results["routed_weak"]
    print(json.dumps({"scorer": args.scorer, "words": args.words, "token_ms": args.token_ms, "runs": args.runs,
                      "modes": results,
                      "added_ttft_ms_kept": round(results["cascade_kept"]["ttft_ms"] - base["ttft_ms"], 1),
                      "added_total_ms_kept": round(results["cascade_kept"]["total_ms"] - base["total_ms"], 1),
                      "load_1min": os.getloadavg()[0], "cpu_count": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
