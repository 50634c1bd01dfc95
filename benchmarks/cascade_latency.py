"""Added latency of the cascade on the weak path: scoring one weak answer on the CPU.

What a cascaded call adds after the weak model answered: the text features, one MiniLM pass over
the answer (first 32 + last tokens, 128 in all), the prompt's MiniLM vector (cached when the
prompt router already embedded it; measured both ways) and the logistic head. Each run uses a new
answer text, so no cache hides the encoder. Threads: ``--threads`` (default 2, the goal's setting).
On a shared machine wall-clock times include waiting for a core; ``cpu_ms_per_call`` is the CPU
time the process used, which with ``--threads 1`` is the latency on one idle core.

    .venv/bin/python benchmarks/cascade_latency.py                 # 300-token answers, 2 threads
    .venv/bin/python benchmarks/cascade_latency.py --tokens 600 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=300, help="answer length in MiniLM tokens")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--scorer", default="default", help="'default', 'features' (shipped) or a scorer checkpoint")
    args = ap.parse_args()
    os.environ["ROUTELLM_TORCH_THREADS"] = str(args.threads)

    from routellm_core.cascade.features import feature_matrix
    from routellm_core.cascade.records import answer_records
    from routellm_core.cascade_policy import load_scorer
    from routellm_core.embeddings.minilm import minilm_model_dir

    rows = [r for r in answer_records() if r.source == "arena_hard"]
    scorer = load_scorer(args.scorer)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(minilm_model_dir()))
    base = next(r for r in rows if len(tok(r.answer, add_special_tokens=False)["input_ids"]) >= args.tokens)
    ids = tok(base.answer, add_special_tokens=False)["input_ids"][: args.tokens]
    answer = tok.decode(ids)
    prompt = base.prompt
    scorer.predict_proba([prompt], [answer + " warm-up"])  # loads MiniLM, caches the prompt's vector

    cpu: dict[str, list[float]] = {}

    def timed(fn, name: str) -> list[float]:
        """Wall-clock ms per run; the process's CPU ms go to ``cpu[name]`` (robust on a shared machine)."""
        out, used = [], []
        for i in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(i)
            out.append((time.perf_counter() - start) * 1000)
            used.append((time.process_time() - start_cpu) * 1000)
        cpu[name] = used
        return out

    cached_prompt = timed(lambda i: scorer.predict_proba([prompt], [f"{answer} v{i}"]), "cached")
    fresh_prompt = timed(lambda i: scorer.predict_proba([f"{prompt} p{i}"], [f"{answer} w{i}"]), "fresh")
    features = timed(lambda i: feature_matrix([prompt], [f"{answer} f{i}"]), "features")

    def summary(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        return {"median_ms": round(statistics.median(values), 2), "p90_ms": round(values[int(0.9 * (len(values) - 1))], 2)}

    print(json.dumps({"answer_tokens": len(ids), "threads": args.threads, "runs": args.runs,
                      "scorer_prompt_cached": summary(cached_prompt), "scorer_prompt_not_cached": summary(fresh_prompt),
                      "text_features_only": summary(features),
                      "cpu_ms_per_call": {k: summary(v) for k, v in cpu.items()}, "load_1min": os.getloadavg()[0],
                      "cpu_count": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
