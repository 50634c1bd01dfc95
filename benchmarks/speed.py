"""Routing speed: our routers, side by side with RouteLLM 0.2.0, plus the server's added latency.

One command (``make benchmark``) writes ``benchmarks/results/benchmark.json`` (every figure) and
``benchmarks/results/benchmark.md`` (the tables). Sections:

* per router (random, mf, sw_ranking, the opt-in mf-static; bert when its checkpoint exists): single-prompt p50/p99
  with embedding, batch throughput at 1/32/256 prompts, and the embedding's share of the time;
* cold start (import, load the default router, first decision) and peak RSS, in fresh processes;
* the embedding paths (numpy, ONNX Runtime, static) side by side;
* fast vs exact embedding: decision agreement at the threshold that sends 50% to the strong model;
* RouteLLM 0.2.0 (installed by this script into its own virtualenv, torch pinned) on the same
  precomputed embeddings: MF with our shipped weights, SW ranking over 50,000 battles;
* the roofline (``benchmarks/roofline.py``): the encoder's FLOPs per prompt and achieved GFLOP/s at
  1 and 2 threads beside a numpy GEMM peak measured in the same run, as ratios to that limit;
* the server's added latency at concurrency 1/16/64/256 with 1 s upstreams (``benchmarks/load_test.py``).

The machine is shared and noisy: compare the ratios (same run, same prompts), not absolute times.

    .venv/bin/python benchmarks/speed.py                 # everything (~10-20 min on 2 busy cores)
    .venv/bin/python benchmarks/speed.py --quick         # fewer prompts, no server load test
    .venv/bin/python benchmarks/speed.py --skip-routellm --skip-server
    .venv/bin/python benchmarks/speed.py --roofline-only  # ~30 s: the roofline section alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROUTELLM_SPEC = ["routellm==0.2.0", "torch==2.13.0"]
COLD_START = """
import resource, sys, time
t = time.perf_counter()
import routellm_core
router = routellm_core.load_router({router!r}{kwargs})
decision = router.route("How do I reverse a linked list in C?", 0.5)
elapsed = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent process across fork + exec
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(elapsed, hwm / 1024, "torch" in sys.modules, usage.ru_utime + usage.ru_stime)
"""


def percentiles(ms: list[float]) -> dict:
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p99": round(float(np.percentile(ms, 99)), 3)}


def bench_prompts(n: int) -> list[str]:
    """A fixed sample of the benchmark prompts (MT-Bench, MMLU, GSM8K), distinct."""
    from routellm_core.decontaminate import benchmark_prompts

    pool = list(dict.fromkeys(benchmark_prompts()))
    return random.Random(0).sample(pool, n)


class Precomputed:
    """An Embedder over vectors computed beforehand: routing math only."""

    def __new__(cls, prompts, vectors):
        from routellm_core.embeddings import CallableEmbedder

        lookup = {p: v for p, v in zip(prompts, vectors)}
        return CallableEmbedder(lambda texts: np.stack([lookup[t] for t in texts]), model_id="precomputed",
                                dim=vectors.shape[1], cache_size=0, batch_size=1 << 20)


def load_with(name: str, embedder):
    from routellm_core import load_router

    if name == "random":
        return load_router("random", cache=False)
    return load_router(name, cache=False, embedder=embedder)


def time_single(router, prompts: list[str]) -> list[float]:
    router.predict_proba(prompts[:3])
    out = []
    for p in prompts:
        start = time.perf_counter()
        router.predict_proba([p])
        out.append((time.perf_counter() - start) * 1e3)
    return out


def throughput(router, prompts: list[str], batch: int) -> float:
    """Prompts per second when routed ``batch`` at a time (distinct prompts, so no cache hit)."""
    start = time.perf_counter()
    for s in range(0, len(prompts), batch):
        router.predict_proba(prompts[s : s + batch])
    return len(prompts) / (time.perf_counter() - start)


def fresh_embedder(name: str):
    """An embedder that caches nothing (every call really embeds): the router's own kind."""
    from routellm_core.embeddings.registry import default_minilm_class
    from routellm_core.embeddings.static import StaticEmbedder

    return StaticEmbedder(cache_size=0) if name.endswith("-static") else default_minilm_class()(cache_size=0)


def bench_embedders(prompts: list[str], batch_prompts: list[str]) -> dict:
    """The embedding paths side by side in the same run: single-prompt p50/p99 and prompts/s at 32."""
    from routellm_core.embeddings.minilm import NumpyEncoderEmbedder, OnnxEncoderEmbedder
    from routellm_core.embeddings.static import StaticEmbedder

    out = {}
    for label, emb in (("minilm numpy fp32", NumpyEncoderEmbedder(cache_size=0)),
                       ("minilm onnxruntime fp32", OnnxEncoderEmbedder(cache_size=0)),
                       ("static (model2vec of MiniLM)", StaticEmbedder(cache_size=0))):
        print(f"  embedder {label} ...", file=sys.stderr, flush=True)
        single = time_single(type("E", (), {"predict_proba": lambda self, p, e=emb: e.embed(p)})(), prompts)
        start = time.perf_counter()
        for s in range(0, len(batch_prompts), 32):
            emb.embed(batch_prompts[s : s + 32])
        out[label] = {"single_ms": percentiles(single), "batch32_per_s": round(len(batch_prompts) / (time.perf_counter() - start), 1)}
    base = out["minilm numpy fp32"]["single_ms"]["p50"]
    for row in out.values():
        row["speedup_vs_numpy_p50"] = round(base / row["single_ms"]["p50"], 2)
    return out


def bench_routers(prompts: list[str], batch_prompts: list[str], names: list[str]) -> dict:
    results: dict = {}
    for name in names:
        print(f"  {name} ...", file=sys.stderr, flush=True)
        emb = fresh_embedder(name)
        embed_ms = time_single(type("E", (), {"predict_proba": lambda self, p, e=emb: e.embed(p)})(), prompts)
        math_embedder = Precomputed(prompts + batch_prompts, emb.embed(prompts + batch_prompts))
        results.setdefault("embedding_only" if not name.endswith("-static") else "static_embedding_only", percentiles(embed_ms))
        router = load_with(name, fresh_embedder(name))
        single = time_single(router, prompts)
        row = {"single_ms": percentiles(single), "math_only_single_ms": percentiles(time_single(load_with(name, math_embedder), prompts))}
        row["embedding_share"] = round(float(np.median(embed_ms)) / row["single_ms"]["p50"], 3) if name != "random" else 0.0
        row["throughput_per_s"] = {str(b): round(throughput(router, batch_prompts[: max(b, 32)], b), 1) for b in (1, 32, 256)}
        math_router = load_with(name, math_embedder)
        row["math_only_throughput_per_s"] = {str(b): round(throughput(math_router, batch_prompts, b), 1) for b in (1, 32, 256)}
        results[name] = row
    return results


def cold_start(cases: list[tuple[str, str, str]], repeats: int) -> dict:
    out = {}
    for label, router, kwargs in cases:
        runs = []
        for _ in range(repeats):
            code = COLD_START.format(router=router, kwargs=kwargs)
            wall = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
            wall = time.perf_counter() - wall
            if proc.returncode != 0:
                out[label] = {"error": proc.stderr.strip().splitlines()[-1]}
                break
            elapsed, rss, torch, cpu = proc.stdout.split()
            runs.append((float(elapsed), wall, float(rss), torch == "True", float(cpu)))
        if runs:
            out[label] = {"in_process_s": round(min(r[0] for r in runs), 3), "process_wall_s": round(min(r[1] for r in runs), 3),
                          "process_cpu_s": round(min(r[4] for r in runs), 3),
                          "peak_rss_mb": round(min(r[2] for r in runs), 1), "imports_torch": runs[0][3]}
    return out


def agreement(prompts: list[str]) -> dict:
    """Decisions of the fast embedders vs the torch float32 reference at the threshold sending 50% to strong,
    and the opt-in static router vs mf, each at its own 50% threshold (calibrated on these prompts)."""
    from routellm_core.embeddings.minilm import HFEncoderEmbedder, NumpyEncoderEmbedder, OnnxEncoderEmbedder

    exact = HFEncoderEmbedder(dtype="float32", cache_size=0, batch_size=16).embed(prompts)
    paths = {"onnx_fp32": OnnxEncoderEmbedder(cache_size=0).embed(prompts),
             "numpy_fp32": NumpyEncoderEmbedder(cache_size=0).embed(prompts),
             "torch_bf16": HFEncoderEmbedder(dtype="bfloat16", cache_size=0, batch_size=16).embed(prompts)}
    out: dict = {"prompts": len(prompts), **{f"max_abs_vector_diff_{k}": float(np.abs(v - exact).max()) for k, v in paths.items()}}
    for name in ("mf", "sw_ranking"):
        p_exact = load_with(name, Precomputed(prompts, exact)).predict_proba(prompts)
        threshold = float(np.median(p_exact))
        out[name] = {}
        for label, vectors in paths.items():
            p = load_with(name, Precomputed(prompts, vectors)).predict_proba(prompts)
            out[name][f"agreement_{label}"] = float(np.mean((p >= threshold) == (p_exact >= threshold)))
            out[name][f"max_abs_prob_diff_{label}"] = float(np.abs(p - p_exact).max())
        if name == "mf":
            p_static = load_with("mf-static", fresh_embedder("mf-static")).predict_proba(prompts)
            out["mf_static_vs_mf"] = float(np.mean((p_static >= np.median(p_static)) == (p_exact >= threshold)))
    return out


def routellm_python() -> Path:
    """RouteLLM 0.2.0 in its own virtualenv under the cache (created once)."""
    from routellm_core.datadir import default_cache_dir

    venv = default_cache_dir() / "benchmarks" / "routellm-0.2.0"
    python = venv / "bin" / "python"
    if not (venv / ".installed").is_file():
        print("installing routellm==0.2.0 into its own virtualenv (once) ...", file=sys.stderr, flush=True)
        if not python.is_file():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "torch==2.13.0"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *ROUTELLM_SPEC], check=True)
        (venv / ".installed").touch()
    return python


def versus_routellm(prompts: list[str], n_battles: int, n_sw: int) -> dict:
    """Same embeddings and the same MF weights / battles fed to RouteLLM's code and ours."""
    from routellm_core.embeddings import get_embedder
    from routellm_core.models import STRONG_MODEL, WEAK_MODEL
    from routellm_core.routers.mf import MFRouter
    from routellm_core.routers.sw_ranking import SWRankingRouter
    from routellm_core.training import default_training_records

    emb = get_embedder("minilm-bf16")  # the training recipe's vectors, already in the cache: same input to both
    queries = emb.embed(prompts)
    mf = load_with("mf", Precomputed(prompts, queries))
    assert isinstance(mf, MFRouter)
    records = default_training_records(embedder=None, verbose=False)
    battles = random.Random(0).sample(records, min(n_battles, len(records)))
    battle_vecs = emb.embed([r.prompt for r in battles], show_progress=True)
    sw = SWRankingRouter(embedder=Precomputed([r.prompt for r in battles] + prompts,
                                              np.concatenate([battle_vecs, queries])), show_progress=False).fit(battles)
    winner = np.array(["model_a" if r.outcome == 1.0 else "model_b" if r.outcome == 0.0 else "tie" for r in battles])
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "inputs.npz"
        np.savez(npz, query_prompts=np.array(prompts), query_embeddings=queries, mf_model_vectors=mf.model_vectors_,
                 mf_projection=mf.projection_, mf_classifier=mf.classifier_,
                 mf_strong=mf.models_.index(STRONG_MODEL), mf_weak=mf.models_.index(WEAK_MODEL),
                 battle_model_a=np.array([r.model_a for r in battles]), battle_model_b=np.array([r.model_b for r in battles]),
                 battle_winner=winner, battle_embeddings=battle_vecs, sw_strong=STRONG_MODEL, sw_weak=WEAK_MODEL,
                 threads=os.cpu_count() or 1)
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "sk-dummy-offline",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        proc = subprocess.run([str(routellm_python()), str(HERE / "routellm_side.py"), str(npz), str(len(prompts)), str(n_sw)],
                              capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-2000:]}
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    ours_mf = time_single(mf, prompts)
    ours_mf_probs = mf.predict_proba(prompts)
    ours_sw = time_single(sw, prompts[:n_sw])
    ours_batch = throughput(mf, prompts, 32)
    return {
        "battles": len(battles), "sw_queries": n_sw,
        "mf": {"ours_ms": percentiles(ours_mf), "routellm_ms": percentiles(theirs["mf_ms"]),
               "speedup_p50": round(np.median(theirs["mf_ms"]) / np.median(ours_mf), 1),
               "ours_batch32_per_s": round(ours_batch, 1), "routellm_loop_per_s": round(theirs["mf_batch_per_s"], 1),
               "same_probabilities_max_abs_diff": float(np.abs(np.array(theirs["mf_probs"]) - ours_mf_probs).max())},
        "sw_ranking": {"ours_ms": percentiles(ours_sw), "routellm_ms": percentiles(theirs["sw_ms"]),
                       "speedup_p50": round(np.median(theirs["sw_ms"]) / np.median(ours_sw), 1)},
    }


def server_latency(concurrency: list[int], requests: int, router: str = "mf", upstream_latency: float = 1.0) -> dict:
    """``load_test.py`` over the concurrency levels (one server run), with upstreams answering after 1 s."""
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        proc = subprocess.run([sys.executable, str(HERE / "load_test.py"), "--requests", str(requests), "--concurrency",
                               *map(str, concurrency), "--upstream-latency", str(upstream_latency), "--json", fh.name,
                               "--router", router], capture_output=True, text=True, timeout=3600)
        if proc.returncode not in (0, 1):
            return {"error": {"error": proc.stderr.strip()[-500:]}}
        report = json.loads(Path(fh.name).read_text())
    return {c: {"requests": row["requests"], "added_ms": row["added_latency_ms"], "errors": row["errors"],
                "routing_mean_ms": row["routing_mean_ms"]} for c, row in report["levels"].items()}


def markdown(report: dict) -> str:
    lines = [f"# Routing speed ({report['date']})", "", f"Machine: {report['machine']}", ""]
    if report.get("roofline"):
        from roofline import markdown as roofline_markdown

        lines += [roofline_markdown(report["roofline"])]
    routers = report.get("routers", {})
    if routers:
        lines += ["| router | single p50 ms | single p99 ms | embedding share | 1/s | 32/s | 256/s | math-only p50 ms |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, row in routers.items():
            if name.endswith("embedding_only"):
                continue
            t = row["throughput_per_s"]
            lines.append(f"| {name} | {row['single_ms']['p50']} | {row['single_ms']['p99']} | {row['embedding_share']:.0%} | "
                         f"{t['1']} | {t['32']} | {t['256']} | {row['math_only_single_ms']['p50']} |")
        lines.append(f"\nMiniLM embedding alone (default path): p50 {routers['embedding_only']['p50']} ms, "
                     f"p99 {routers['embedding_only']['p99']} ms.\n")
    if report.get("embedders"):
        lines += ["| embedder | single p50 ms | single p99 ms | x numpy (p50) | 32/s |", "|---|---|---|---|---|"]
        for label, row in report["embedders"].items():
            lines.append(f"| {label} | {row['single_ms']['p50']} | {row['single_ms']['p99']} | {row['speedup_vs_numpy_p50']}x | "
                         f"{row['batch32_per_s']} |")
        lines.append("")
    if report.get("cold_start"):
        lines += ["| cold start | in-process s | process wall s | process CPU s | peak RSS MB | imports torch |",
                  "|---|---|---|---|---|---|"]
        for label, row in report["cold_start"].items():
            if "error" in row:
                lines.append(f"| {label} | error: {row['error']} | | | | |")
            else:
                lines.append(f"| {label} | {row['in_process_s']} | {row['process_wall_s']} | {row['process_cpu_s']} | "
                             f"{row['peak_rss_mb']} | {row['imports_torch']} |")
        lines.append("")
    if report.get("agreement"):
        a = report["agreement"]
        lines += [f"Fast vs exact (torch fp32) embedding on {a['prompts']} benchmark prompts (threshold: 50% strong):", "",
                  "| router | path | agreement | max abs dP |", "|---|---|---|---|"]
        for name in ("mf", "sw_ranking"):
            for label in ("onnx_fp32", "numpy_fp32", "torch_bf16"):
                lines.append(f"| {name} | {label} | {a[name]['agreement_' + label]:.2%} | {a[name]['max_abs_prob_diff_' + label]:.1e} |")
        lines.append(f"\nmf-static vs mf, each at its own 50% threshold: {a['mf_static_vs_mf']:.2%} of decisions agree.\n")
    v = report.get("routellm")
    if v and "error" not in v:
        lines += [f"Versus RouteLLM 0.2.0, same precomputed embeddings (SW: {v['battles']} battles):", "",
                  "| | ours p50 ms | RouteLLM p50 ms | speed-up |", "|---|---|---|---|",
                  f"| MF, one prompt | {v['mf']['ours_ms']['p50']} | {v['mf']['routellm_ms']['p50']} | {v['mf']['speedup_p50']}x |",
                  f"| SW ranking, one prompt | {v['sw_ranking']['ours_ms']['p50']} | {v['sw_ranking']['routellm_ms']['p50']} | "
                  f"{v['sw_ranking']['speedup_p50']}x |", "",
                  f"MF batched (32): {v['mf']['ours_batch32_per_s']}/s vs RouteLLM's loop {v['mf']['routellm_loop_per_s']}/s; "
                  f"same probabilities to {v['mf']['same_probabilities_max_abs_diff']:.1e}.", ""]
    elif v:
        lines += [f"RouteLLM comparison failed: {v['error'][-300:]}", ""]
    for key, router in (("server", "mf"), ("server_mf_static", "mf-static")):
        if not report.get(key):
            continue
        lines += [f"| server ({router}) concurrency | requests | added p50 ms | added p99 ms | routing mean ms | errors |",
                  "|---|---|---|---|---|---|"]
        for c, row in report[key].items():
            if "error" in row:
                lines.append(f"| {c} | error | | | | |")
            else:
                lines.append(f"| {c} | {row['requests']} | {row['added_ms'].get('p50')} | {row['added_ms'].get('p99')} | "
                             f"{row['routing_mean_ms']} | {row['errors']} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer prompts; no server load test")
    parser.add_argument("--routers", nargs="+", default=None, help="default: random mf sw_ranking (+ bert if trained)")
    parser.add_argument("--skip-routellm", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--battles", type=int, default=50_000)
    parser.add_argument("--roofline-only", action="store_true", help="only the roofline section")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for benchmark.json and benchmark.md")
    args = parser.parse_args()

    from routellm_core.routers.defaults import find_default_checkpoint

    names = args.routers or ["random", "mf", "sw_ranking", "mf-static"]
    if args.routers is None:
        try:
            find_default_checkpoint("bert")
            names.append("bert")
        except ValueError:
            pass
    n_single, n_batch = (30, 256) if args.quick else (100, 512)  # throughput at 256 needs 256 distinct prompts
    prompts = bench_prompts(n_single + n_batch)
    single, batch = prompts[:n_single], prompts[n_single:]
    load = os.getloadavg()
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                               f"load average {load[0]:.1f} at start, Python {platform.python_version()}"}
    print("roofline ...", file=sys.stderr, flush=True)
    sys.path.insert(0, str(HERE))
    from roofline import roofline

    report["roofline"] = roofline()
    if args.roofline_only:
        return write(report, Path(args.out))
    print("embedders ...", file=sys.stderr, flush=True)
    report["embedders"] = bench_embedders(single, batch)
    print("routers ...", file=sys.stderr, flush=True)
    report["routers"] = bench_routers(single, batch, names)
    print("cold start ...", file=sys.stderr, flush=True)
    report["cold_start"] = cold_start([("mf (ONNX Runtime MiniLM, default)", "mf", ""),
                                       ("mf (numpy MiniLM)", "mf", ", embedder='minilm-numpy'"),
                                       ("mf-static (static embedder, opt-in)", "mf-static", ""),
                                       ("sw_ranking (ONNX Runtime MiniLM)", "sw_ranking", ""),
                                       ("mf (torch MiniLM reference)", "mf", ", embedder='minilm-torch'")],
                                      repeats=1 if args.quick else 3)
    print("fast vs exact embedding ...", file=sys.stderr, flush=True)
    report["agreement"] = agreement(prompts[: 128 if args.quick else 512])
    if not args.skip_routellm:
        print("versus RouteLLM 0.2.0 ...", file=sys.stderr, flush=True)
        report["routellm"] = versus_routellm(single, args.battles, 10 if args.quick else 20)
    if not (args.skip_server or args.quick):
        print("server load test ...", file=sys.stderr, flush=True)
        report["server"] = server_latency([1, 16, 64, 256], 400)
        report["server_mf_static"] = server_latency([1, 16, 64, 256], 400, router="mf-static")
    return write(report, Path(args.out))


def write(report: dict, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "benchmark.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
