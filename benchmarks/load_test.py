"""Load test of the routing server on loopback: latency it adds over calling the upstream directly.

Starts two OpenAI stub upstreams (one subprocess) and ``routellm-core serve`` (another subprocess),
then sends the same workload twice from this process: straight to the upstreams (the baseline),
and through the routing server. Each request has a distinct real prompt (GSM8K questions, so the
embedder's cache never helps); half of them stream. Reports p50/p99 latency of both, what the
router adds, the server's own routing time (from /metrics), and errors (must be 0). Everything
is stopped at the end, also on error or Ctrl-C.

    .venv/bin/python benchmarks/load_test.py                       # 1,000 requests, concurrency 64
    .venv/bin/python benchmarks/load_test.py --requests 200 --concurrency 16 --router PATH

Without ``--router``, a small MF router (MiniLM embeddings, 150 AlpacaEval prompts) is trained once
(~20-30 s) into ``$ROUTELLM_CACHE_DIR/benchmarks/mf-alpaca150`` and reused afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

STUBS = """
import sys, time
from routellm_core.testing import OpenAIStubServer
strong = OpenAIStubServer(model="strong-model").start()
weak = OpenAIStubServer(model="weak-model").start()
print(strong.base_url, weak.base_url, flush=True)
sys.stdin.read()  # run until the parent closes our stdin
strong.stop(); weak.stop()
"""


def default_router() -> Path:
    """A small real MF checkpoint, trained once and cached."""
    from routellm_core.datadir import default_cache_dir

    path = default_cache_dir() / "benchmarks" / "mf-alpaca150"
    if (path / "config.json").is_file():
        return path
    from routellm_core.datadir import resolve_data_dir
    from routellm_core.loaders import load_alpaca_eval
    from routellm_core.routers.mf import MFRouter

    print("training a small MF router for the load test (once) ...", file=sys.stderr)
    records = load_alpaca_eval(resolve_data_dir(), annotators=["weighted_alpaca_eval_gpt4_turbo"])
    keep = set(sorted({r.prompt for r in records})[:150])
    MFRouter(epochs=30, show_progress=False).fit([r for r in records if r.prompt in keep]).save(path)
    return path


def load_prompts(n: int) -> list[str]:
    from routellm_core.decontaminate import benchmark_prompts

    prompts = list(dict.fromkeys(benchmark_prompts(None, ["gsm8k"])))
    return [prompts[i % len(prompts)] + ("" if i < len(prompts) else f" (variant {i})") for i in range(n)]


class Result:
    __slots__ = ("latency", "first_byte", "error", "stream", "role")

    def __init__(self, latency: float, first_byte: float, error: str | None, stream: bool, role: str | None) -> None:
        self.latency, self.first_byte, self.error, self.stream, self.role = latency, first_byte, error, stream, role


async def one_request(client: httpx.AsyncClient, url: str, body: dict) -> Result:
    start = time.perf_counter()
    stream = bool(body.get("stream"))
    try:
        if not stream:
            response = await client.post(url, json=body)
            first = time.perf_counter() - start
            if response.status_code != 200:
                return Result(time.perf_counter() - start, first, f"HTTP {response.status_code}", False, None)
            data = response.json()
            if not data["choices"][0]["message"]["content"]:
                return Result(time.perf_counter() - start, first, "empty answer", False, None)
            return Result(time.perf_counter() - start, first, None, False, response.headers.get("x-routellm-role"))
        first = 0.0
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return Result(time.perf_counter() - start, 0.0, f"HTTP {response.status_code}", True, None)
            done, chunks = False, 0
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if not first:
                    first = time.perf_counter() - start
                if line == "data: [DONE]":
                    done = True
                elif '"error"' in line[:20]:
                    return Result(time.perf_counter() - start, first, "error event", True, None)
                else:
                    chunks += 1
            error = None if done and chunks > 2 else f"stream incomplete ({chunks} chunks, done={done})"
            return Result(time.perf_counter() - start, first, error, True, response.headers.get("x-routellm-role"))
    except httpx.HTTPError as exc:
        return Result(time.perf_counter() - start, 0.0, f"{type(exc).__name__}: {exc}", stream, None)


async def run_phase(bodies: list[tuple[str, dict]], concurrency: int, timeout: float) -> tuple[list[Result], float]:
    """Send (url, body) pairs with at most ``concurrency`` in flight; returns results and wall seconds."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        queue: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        for item in bodies:
            queue.put_nowait(item)
        results: list[Result] = []

        async def worker() -> None:
            while not queue.empty():
                url, body = queue.get_nowait()
                results.append(await one_request(client, url, body))

        start = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return results, time.perf_counter() - start


def summarize(results: list[Result], wall: float) -> dict:
    ok = [r for r in results if r.error is None]
    lat = np.array([r.latency for r in ok]) * 1000
    ttfb = np.array([r.first_byte for r in ok if r.stream]) * 1000
    pct = lambda a, q: round(float(np.percentile(a, q)), 1) if len(a) else None  # noqa: E731
    errors: dict[str, int] = {}
    for r in results:
        if r.error:
            errors[r.error] = errors.get(r.error, 0) + 1
    return {"requests": len(results), "errors": sum(errors.values()), "error_kinds": errors,
            "throughput_rps": round(len(results) / wall, 1), "wall_s": round(wall, 2),
            "latency_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99), "max": pct(lat, 100)},
            "stream_first_byte_ms": {"p50": pct(ttfb, 50), "p99": pct(ttfb, 99)},
            "roles": {role: sum(r.role == role for r in ok) for role in ("strong", "weak")}}


def scrape_routing(url: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(httpx.get(url, timeout=10).text) for s in f.samples}
    count = sum(v for (n, _), v in samples.items() if n == "routellm_routing_latency_seconds_count")
    total = sum(v for (n, _), v in samples.items() if n == "routellm_routing_latency_seconds_sum")
    fallbacks = sum(v for (n, _), v in samples.items() if n == "routellm_fallbacks_total")
    upstream_errors = {",".join(f"{key}={val}" for key, val in labels): int(v) for (n, labels), v in samples.items()
                       if n == "routellm_upstream_errors_total"}
    return {"routing_decisions": int(count), "routing_seconds": total,
            "fallbacks": int(fallbacks), "upstream_errors": upstream_errors}


def start_server(config_path: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    fh = log.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "routellm_core.cli", "serve", "--config", str(config_path),
                             "--port", "0", "--log-level", "warning"], stderr=fh, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"routing server exited with {proc.returncode}; see {log}")
        match = re.search(r"routing server on (http://127\.0\.0\.1:\d+)/v1", log.read_text())
        if match:
            url = match.group(1)
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"routing server did not start within 180 s; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--stream-fraction", type=float, default=0.5)
    parser.add_argument("--router", help="router checkpoint or name (default: a small cached MF router)")
    parser.add_argument("--strong-fraction", type=float, default=0.5,
                        help="threshold calibrated so this share of the prompts goes to the strong model")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request client timeout, seconds")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1 or not 0 <= args.stream_fraction <= 1:
        parser.error("--requests and --concurrency must be >= 1, --stream-fraction in [0, 1]")

    from routellm_core import calibrate_threshold, load_router
    from routellm_core.server.routing import use_memory_embedder

    router_path = args.router or str(default_router())
    prompts = load_prompts(args.requests)
    router = load_router(router_path, cache=False)
    use_memory_embedder(router)  # as the server does: these prompts stay out of the disk cache
    threshold = calibrate_threshold(router, prompts[:200], args.strong_fraction)
    n_stream = round(args.requests * args.stream_fraction)
    streams = [i * args.requests // n_stream for i in range(n_stream)] if n_stream else []
    stream_set = set(streams)

    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="routellm-load-") as tmp:
        try:
            stubs = subprocess.Popen([sys.executable, "-c", STUBS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
            procs.append(stubs)
            strong_url, weak_url = stubs.stdout.readline().split()
            config = {"strong": {"base_url": strong_url, "model": "strong-model", "timeout": 30},
                      "weak": {"base_url": weak_url, "model": "weak-model", "timeout": 30},
                      "routers": {"mf": router_path}, "aliases": {"bench": {"router": "mf", "threshold": threshold}}}
            config_path = Path(tmp) / "server.json"
            config_path.write_text(json.dumps(config))
            server, server_url = start_server(config_path, env, Path(tmp) / "server.log")
            procs.append(server)

            def body(i: int, model: str) -> dict:
                return {"model": model, "messages": [{"role": "user", "content": prompts[i]}],
                        "stream": i in stream_set, "max_tokens": 64}

            # Baseline: each request straight to an upstream (alternating roles: the same stub work).
            direct = [(f"{strong_url if i % 2 else weak_url}/chat/completions", body(i, "strong-model" if i % 2 else "weak-model"))
                      for i in range(args.requests)]
            routed = [(f"{server_url}/v1/chat/completions", body(i, "bench")) for i in range(args.requests)]
            warm = [(f"{server_url}/v1/chat/completions", {**body(i, "bench"), "messages": [
                {"role": "user", "content": f"warm-up question {i}"}]}) for i in range(min(16, args.requests))]
            asyncio.run(run_phase(warm + direct[:16], min(args.concurrency, 8), args.timeout))
            before = scrape_routing(f"{server_url}/metrics")

            print(f"direct: {args.requests} requests at concurrency {args.concurrency} ...", file=sys.stderr)
            direct_summary = summarize(*asyncio.run(run_phase(direct, args.concurrency, args.timeout)))
            print(f"routed: {args.requests} requests at concurrency {args.concurrency} ...", file=sys.stderr)
            routed_summary = summarize(*asyncio.run(run_phase(routed, args.concurrency, args.timeout)))
            after = scrape_routing(f"{server_url}/metrics")
        finally:
            for proc in reversed(procs):
                if proc.stdin:
                    proc.stdin.close()
                else:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()

    routing_count = after["routing_decisions"] - before["routing_decisions"]
    routing_seconds = after["routing_seconds"] - before["routing_seconds"]
    added = {q: round(routed_summary["latency_ms"][q] - direct_summary["latency_ms"][q], 1)
             for q in ("p50", "p99") if routed_summary["latency_ms"][q] is not None}
    report = {
        "requests": args.requests, "concurrency": args.concurrency, "streaming": n_stream,
        "router": router_path, "threshold": round(threshold, 6), "cpu_cores": os.cpu_count(),
        "direct": direct_summary, "routed": routed_summary,
        "added_latency_ms": added,
        "server": {"routing_decisions": routing_count, "routing_mean_ms": round(1000 * routing_seconds / routing_count, 1) if routing_count else None,
                   "fallbacks": after["fallbacks"] - before["fallbacks"],
                   "upstream_errors": {k: n - before["upstream_errors"].get(k, 0)
                                       for k, n in after["upstream_errors"].items()
                                       if n - before["upstream_errors"].get(k, 0)}},
        "errors": direct_summary["errors"] + routed_summary["errors"],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
