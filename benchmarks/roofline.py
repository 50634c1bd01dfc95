"""The encoder against the machine's limit: MiniLM FLOPs per prompt, achieved GFLOP/s, and a GEMM peak.

The default embedder (float32 MiniLM on ONNX Runtime) is nearly all of a decision's cost, and its cost
is arithmetic: per prompt of n tokens, each of the L layers does the four projections
(2 n h (3h + h + 2 f) FLOPs for hidden size h and FFN size f) and the attention products
(4 n^2 h). The roofline is the best this CPU does on the same kind of arithmetic: a large float32
GEMM, measured in the same run with one and with two threads, both as numpy's BLAS and as ONNX
Runtime's own MatMul (MLAS, the encoder's kernels), whichever is faster. The encoder is then
timed on the same Arena-Hard prompts (each prompt its own run, as the router does) in three ways:
one thread; ONNX Runtime's intra-op threads = 2 on one run at a time; and two runs at once on two
threads (the server's scoring workers). Ratios to the GEMM peak say how close to the limit it is.

    .venv/bin/python benchmarks/roofline.py --json roofline.json        # ~30 s; speed.py includes it
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np


def arena_prompts(n: int) -> list[str]:
    from routellm_core.loaders import arena_hard_questions

    return list(dict.fromkeys(q.prompt for q in arena_hard_questions()))[:n]


def encoder_flops(n_tokens: int, hidden: int, ffn: int, layers: int) -> float:
    """Multiply-adds x 2 of one BERT forward pass over ``n_tokens`` (projections + attention; the rest is < 1%)."""
    projections = 2 * n_tokens * hidden * (3 * hidden + hidden + 2 * ffn)
    attention = 4 * n_tokens * n_tokens * hidden
    return float(layers * (projections + attention))


def gemm_peak(threads: int, size: int = 1024, repeats: int = 10) -> float:
    """Best GFLOP/s of a float32 ``size``^3 numpy GEMM with ``threads`` BLAS threads."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size), dtype=np.float32), rng.standard_normal((size, size), dtype=np.float32)
    best = float("inf")
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def ort_gemm_peak(threads: int, parallel_runs: int = 1, size: int = 1024, repeats: int = 10) -> float:
    """Best GFLOP/s of a float32 ``size``^3 MatMul in ONNX Runtime (its MLAS kernels: the encoder's own GEMM).

    ``threads`` intra-op threads per run, ``parallel_runs`` runs at once on their own threads (the
    server's two scoring workers). numpy's BLAS is not always the faster GEMM on a CPU, so the peak is
    the best of both.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [size, size]) for n in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal((size, size), dtype=np.float32) for n in "ab"}
    session.run(None, feeds)

    def runs(k: int) -> None:
        for _ in range(k):
            session.run(None, feeds)

    best = float("inf")
    for _ in range(repeats):
        workers = [threading.Thread(target=runs, args=(2,)) for _ in range(parallel_runs)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, (time.perf_counter() - start) / (2 * parallel_runs))
    return 2 * size**3 / best / 1e9


def _run_all(session, ids: list[np.ndarray]) -> None:
    for x in ids:
        session.mean_pooled(x)


def encoder_rate(ids: list[np.ndarray], intra_threads: int, parallel_runs: int, repeats: int = 2) -> float:
    """Prompts per second: ``parallel_runs`` threads each running its share of prompts, one prompt per run."""
    from routellm_core.datadir import default_cache_dir
    from routellm_core.embeddings.minilm import minilm_model_dir
    from routellm_core.embeddings.onnx_bert import OnnxBert, exported_onnx

    model = exported_onnx(minilm_model_dir(), default_cache_dir())
    session = OnnxBert(model, 384, threads=intra_threads)
    _run_all(session, ids[:8])
    best = float("inf")
    for _ in range(repeats):
        workers = [threading.Thread(target=_run_all, args=(session, ids[i::parallel_runs])) for i in range(parallel_runs)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - start)
    return len(ids) / best


def roofline(n_prompts: int = 200) -> dict:
    from routellm_core.embeddings.minilm import OnnxEncoderEmbedder

    embedder = OnnxEncoderEmbedder(cache_size=0)
    prompts = arena_prompts(n_prompts)
    token_ids = embedder.token_ids(prompts)
    config = json.loads((embedder.model_dir / "config.json").read_text(encoding="utf-8"))
    hidden, ffn, layers = int(config["hidden_size"]), int(config["intermediate_size"]), int(config["num_hidden_layers"])
    flops = [encoder_flops(len(t), hidden, ffn, layers) for t in token_ids]
    per_prompt = float(np.mean(flops))
    ids = [np.asarray([t], dtype=np.int64) for t in token_ids]
    print("  GEMM peak (numpy BLAS and ONNX Runtime MatMul, 1 and 2 threads) ...", file=sys.stderr, flush=True)
    gemms = {"numpy 1 thread": gemm_peak(1), "numpy 2 threads": gemm_peak(2),
             "onnxruntime 1 thread": ort_gemm_peak(1), "onnxruntime 2 threads": ort_gemm_peak(2),
             "onnxruntime 2 parallel runs": ort_gemm_peak(1, parallel_runs=2)}
    peak = {"1": round(max(v for k, v in gemms.items() if "1 thread" in k), 1),
            "2": round(max(v for k, v in gemms.items() if "1 thread" not in k), 1)}
    print("  encoder (1 thread, intra-op 2, 2 parallel runs) ...", file=sys.stderr, flush=True)
    rates = {"1 thread": encoder_rate(ids, 1, 1), "intra-op 2 threads": encoder_rate(ids, 2, 1),
             "2 parallel runs (server)": encoder_rate(ids, 1, 2)}
    rows = {}
    for label, rate in rates.items():
        threads = "1" if label == "1 thread" else "2"
        gflops = rate * per_prompt / 1e9
        rows[label] = {"prompts_per_s": round(rate, 1), "gflop_per_s": round(gflops, 1), "threads": int(threads),
                       "ratio_to_gemm_peak": round(gflops / peak[threads], 3),
                       "speedup_vs_1_thread": round(rate / rates["1 thread"], 2)}
    return {"prompts": len(prompts), "source": "arena_hard", "mean_tokens": round(float(np.mean([len(t) for t in token_ids])), 1),
            "encoder_gflop_per_prompt": round(per_prompt / 1e9, 4),
            "model": {"hidden": hidden, "ffn": ffn, "layers": layers}, "gemm_peak_gflop_per_s": peak,
            "gemm_gflop_per_s": {k: round(v, 1) for k, v in gemms.items()},
            "encoder": rows, "cpu_cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2)}


def markdown(r: dict) -> str:
    lines = [f"Roofline: {r['prompts']} Arena-Hard prompts, {r['mean_tokens']} tokens on average, "
             f"{r['encoder_gflop_per_prompt']} GFLOP per prompt; float32 GEMM peak (best of numpy and ONNX Runtime, "
             f"1024^3) {r['gemm_peak_gflop_per_s']['1']} GFLOP/s on 1 thread, {r['gemm_peak_gflop_per_s']['2']} on 2 "
             f"({', '.join(f'{k} {v}' for k, v in r['gemm_gflop_per_s'].items())}).", "",
             "| encoder (ONNX Runtime fp32) | prompts/s | GFLOP/s | share of GEMM peak (same threads) | x 1 thread |",
             "|---|---|---|---|---|"]
    for label, row in r["encoder"].items():
        lines.append(f"| {label} | {row['prompts_per_s']} | {row['gflop_per_s']} | {row['ratio_to_gemm_peak']:.0%} | "
                     f"{row['speedup_vs_1_thread']}x |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    report = roofline(args.prompts)
    text = json.dumps(report, indent=2)
    print(text)
    print(markdown(report), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
