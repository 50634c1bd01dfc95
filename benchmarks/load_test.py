"""Load test of the routing server on loopback: latency it adds over calling the upstream directly.

Starts two OpenAI stub upstreams (one subprocess) and ``routellm-core serve`` (another subprocess),
then, at each concurrency, sends the same workload twice from this process: straight to the
upstreams (the baseline), and through the routing server. The stubs answer after
``--upstream-latency`` seconds (a real LLM call takes about a second) and stream at
``--stream-speed`` tokens/s. Each request has a distinct Arena-Hard prompt (Arena length, ~70
tokens; a variant suffix past the 500 prompts, so no cache ever helps); half of them stream.
Reports, per concurrency, p50/p99 latency of both, what the router adds, the server's own
routing time (from /metrics) and errors (must be 0). ``--capacity`` then sends open-loop traffic
at rising rates and reports the highest rate at which the added p99 stays <= ``--p99-budget-ms``
(100). Everything is stopped at the end, also on error or Ctrl-C.

    # the issue's figures (one command): sweep 1/16/64/256, 1 s upstreams, capacity search
    .venv/bin/python benchmarks/load_test.py --router mf --upstream-latency 1 --sweep --capacity --json load.json
    .venv/bin/python benchmarks/load_test.py --requests 200 --concurrency 16 --router PATH
    # Ray Serve, 1 vs 2 replicas (saturation throughput, upstreams answering at once)
    .venv/bin/python benchmarks/load_test.py --router mf --ray-replicas 1 2 --concurrency 64 --requests 600
    # Ray Serve's own overhead: the plain server, then 1 replica, at concurrency 16 with 1 s upstreams
    .venv/bin/python benchmarks/load_test.py --router mf --with-plain --ray-replicas 1 --concurrency 16 --upstream-latency 1

``--json PATH`` writes the report; its top-level ``added_p50_ms``, ``added_p99_ms`` and ``errors``
are those of concurrency 64 (or of the only/highest concurrency run), and ``levels`` holds one
object per concurrency with the same keys. Without ``--router``, a small MF router (MiniLM
embeddings, 150 AlpacaEval prompts) is trained once (~20-30 s) into
``$ROUTELLM_CACHE_DIR/benchmarks/mf-alpaca150`` and reused afterwards.
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

import aiohttp
import httpx
import numpy as np

STUBS = """
import sys, time
from routellm_core.testing import OpenAIStubServer
delay, chunk_delay = float(sys.argv[1]), float(sys.argv[2])
strong = OpenAIStubServer(model="strong-model").start()
weak = OpenAIStubServer(model="weak-model").start()
for stub in (strong, weak):
    stub.delay, stub.chunk_delay = delay, chunk_delay
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
    """``n`` distinct Arena-Hard prompts (the 500 real ones, then variants of them)."""
    from routellm_core.loaders import arena_hard_questions

    prompts = list(dict.fromkeys(q.prompt for q in arena_hard_questions()))
    return [prompts[i % len(prompts)] + ("" if i < len(prompts) else f" (variant {i})") for i in range(n)]


class Result:
    __slots__ = ("latency", "first_byte", "error", "stream", "role")

    def __init__(self, latency: float, first_byte: float, error: str | None, stream: bool, role: str | None) -> None:
        self.latency, self.first_byte, self.error, self.stream, self.role = latency, first_byte, error, stream, role


async def one_request(client: aiohttp.ClientSession, url: str, body: dict) -> Result:
    start = time.perf_counter()
    stream = bool(body.get("stream"))
    try:
        async with client.post(url, json=body) as response:
            first = time.perf_counter() - start
            role = response.headers.get("x-routellm-role")
            if response.status != 200:
                await response.read()
                return Result(time.perf_counter() - start, first, f"HTTP {response.status}", stream, None)
            if not stream:
                data = json.loads(await response.read())
                if not data["choices"][0]["message"]["content"]:
                    return Result(time.perf_counter() - start, first, "empty answer", False, None)
                return Result(time.perf_counter() - start, first, None, False, role)
            first, done, chunks = 0.0, False, 0
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
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
            return Result(time.perf_counter() - start, first, error, True, role)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Result(time.perf_counter() - start, 0.0, f"{type(exc).__name__}: {exc}", stream, None)


def _session(connections: int, timeout: float) -> aiohttp.ClientSession:
    """The load generator's client: aiohttp (C parser), so it takes little of the cores it shares."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
                                 timeout=aiohttp.ClientTimeout(total=timeout))


async def run_phase(bodies: list[tuple[str, dict]], concurrency: int, timeout: float,
                    ramp_up: float = 0.0) -> tuple[list[Result], float]:
    """Send (url, body) pairs with at most ``concurrency`` in flight; returns results and wall seconds.

    Client k starts ``k / concurrency * ramp_up`` seconds in (a spawn rate, as locust and k6 have), so a
    closed loop measures steady traffic rather than one synchronised burst of ``concurrency`` requests that
    the fixed upstream latency would then repeat every second.
    """
    async with _session(concurrency, timeout) as client:
        queue: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        for item in bodies:
            queue.put_nowait(item)
        results: list[Result] = []

        async def worker(k: int) -> None:
            await asyncio.sleep(k / concurrency * ramp_up)
            while not queue.empty():
                url, body = queue.get_nowait()
                results.append(await one_request(client, url, body))

        start = time.perf_counter()
        await asyncio.gather(*[worker(k) for k in range(concurrency)])
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


def start_server(config_path: Path, env: dict[str, str], log: Path, extra: list[str] | None = None,
                 ) -> tuple[subprocess.Popen, str]:
    """``routellm-core serve`` on a free loopback port (``extra``: e.g. ``--ray --replicas 2``)."""
    fh = log.open("w")
    port = ["--port", "0"] if not extra else ["--port", str(free_port())]  # Ray Serve binds its own port
    proc = subprocess.Popen([sys.executable, "-m", "routellm_core.cli", "serve", "--config", str(config_path),
                             *port, "--log-level", "warning", *(extra or [])], stderr=fh, env=env)
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


async def run_open_loop(bodies: list[tuple[str, dict]], rate: float, timeout: float) -> tuple[list[Result], float]:
    """Send each (url, body) at its own time, ``rate`` per second (open loop: arrivals do not wait for answers)."""
    async with _session(4096, timeout) as client:
        start = time.perf_counter()

        async def at(i: int, url: str, body: dict) -> Result:
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            return await one_request(client, url, body)

        results = await asyncio.gather(*(at(i, url, body) for i, (url, body) in enumerate(bodies)))
        return list(results), time.perf_counter() - start


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def added(direct: dict, routed: dict) -> dict:
    return {q: round(routed["latency_ms"][q] - direct["latency_ms"][q], 1)
            for q in ("p50", "p99") if routed["latency_ms"][q] is not None and direct["latency_ms"][q] is not None}


class Bench:
    """One running server and stub pair, and fresh prompts for each phase (no cache ever hits)."""

    def __init__(self, args: argparse.Namespace, prompts: list[str], urls: tuple[str, str, str]) -> None:
        self.args, self.prompts, (self.strong_url, self.weak_url, self.server_url) = args, prompts, urls
        self.used = 0
        self.ray = False
        self.server_pid: int | None = None
        self.stubs_pid: int | None = None

    def bodies(self, n: int) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
        """``n`` direct and ``n`` routed requests on the next ``n`` unused prompts (``--stream-fraction`` stream)."""
        texts = [self.prompts[(self.used + i) % len(self.prompts)] for i in range(n)]
        self.used += n
        n_stream = round(n * self.args.stream_fraction)
        stream_set = {i * n // n_stream for i in range(n_stream)} if n_stream else set()

        def body(i: int, model: str) -> dict:
            return {"model": model, "messages": [{"role": "user", "content": texts[i]}], "stream": i in stream_set,
                    "max_tokens": 64}

        # Baseline: each request straight to an upstream (alternating roles: the same stub work).
        direct = [(f"{self.strong_url if i % 2 else self.weak_url}/chat/completions",
                   body(i, "strong-model" if i % 2 else "weak-model")) for i in range(n)]
        routed = [(f"{self.server_url}/v1/chat/completions", body(i, "bench")) for i in range(n)]
        return direct, routed

    def level(self, concurrency: int, n: int) -> dict:
        """Closed loop: ``n`` requests with ``concurrency`` in flight, direct then routed."""
        direct, routed = self.bodies(n)
        print(f"concurrency {concurrency}: {n} requests direct, then routed ...", file=sys.stderr, flush=True)
        ramp = self.args.ramp_up
        direct_summary = summarize(*asyncio.run(run_phase(direct, concurrency, self.args.timeout, ramp)))
        before = scrape_routing(f"{self.server_url}/metrics")
        before["cpu_s"] = cpu_seconds(self.server_pid)
        before["harness_cpu_s"] = time.process_time() + (cpu_seconds(self.stubs_pid) or 0.0)
        routed_summary = summarize(*asyncio.run(run_phase(routed, concurrency, self.args.timeout, ramp)))
        return self._report(direct_summary, routed_summary, before, {"concurrency": concurrency, "requests": n,
                                                                      "streaming": sum(b["stream"] for _, b in routed)})

    def open_loop(self, rate: float, seconds: float) -> dict:
        n = max(1, round(rate * seconds))
        direct, routed = self.bodies(n)
        print(f"rate {rate:g}/s: {n} requests direct, then routed ...", file=sys.stderr, flush=True)
        direct_summary = summarize(*asyncio.run(run_open_loop(direct, rate, self.args.timeout)))
        before = scrape_routing(f"{self.server_url}/metrics")
        before["cpu_s"] = cpu_seconds(self.server_pid)
        before["harness_cpu_s"] = time.process_time() + (cpu_seconds(self.stubs_pid) or 0.0)
        routed_summary = summarize(*asyncio.run(run_open_loop(routed, rate, self.args.timeout)))
        return self._report(direct_summary, routed_summary, before, {"rate_rps": rate, "requests": n})

    def _report(self, direct: dict, routed: dict, before: dict, head: dict) -> dict:
        cpu_after = cpu_seconds(self.server_pid)
        harness = time.process_time() + (cpu_seconds(self.stubs_pid) or 0.0) - before["harness_cpu_s"]
        after = scrape_routing(f"{self.server_url}/metrics")
        cpu = None if self.ray or cpu_after is None or before.get("cpu_s") is None else cpu_after - before["cpu_s"]
        count = after["routing_decisions"] - before["routing_decisions"]
        seconds = after["routing_seconds"] - before["routing_seconds"]
        if self.ray:  # each replica has its own /metrics and a scrape reaches any one: no server-side figures
            count, seconds = 0, 0.0
        extra = added(direct, routed)
        return {**head, "added_p50_ms": extra.get("p50"), "added_p99_ms": extra.get("p99"),
                "errors": direct["errors"] + routed["errors"], "added_latency_ms": extra,
                "routing_mean_ms": round(1000 * seconds / count, 1) if count else None,
                "server_cpu_ms_per_request": round(1000 * cpu / routed["requests"], 2) if cpu is not None else None,
                "harness_cpu_ms_per_request": round(1000 * harness / routed["requests"], 2),
                "throughput_rps": routed["throughput_rps"], "direct": direct, "routed": routed,
                "server": {"routing_decisions": count, "routing_mean_ms": round(1000 * seconds / count, 1) if count else None,
                           "fallbacks": after["fallbacks"] - before["fallbacks"],
                           "upstream_errors": {k: n - before["upstream_errors"].get(k, 0)
                                               for k, n in after["upstream_errors"].items()
                                               if n - before["upstream_errors"].get(k, 0)}}}


def capacity(bench: Bench, rates: list[float], seconds: float, budget_ms: float) -> dict:
    """Rising open-loop rates until the added p99 passes ``budget_ms`` (or errors appear)."""
    steps, best = [], None
    for rate in rates:
        row = bench.open_loop(rate, seconds)
        steps.append({k: row[k] for k in ("rate_rps", "requests", "added_p50_ms", "added_p99_ms", "errors",
                                          "routing_mean_ms", "throughput_rps")})
        ok = row["errors"] == 0 and row["added_p99_ms"] is not None and row["added_p99_ms"] <= budget_ms
        print(f"  rate {rate:g}/s: added p99 {row['added_p99_ms']} ms, errors {row['errors']}", file=sys.stderr)
        if not ok:
            break
        best = rate
    return {"capacity_rps": best, "p99_budget_ms": budget_ms, "seconds_per_rate": seconds, "steps": steps}


def run_variant(args: argparse.Namespace, router_path: str, threshold: float, prompts: list[str],
                extra: list[str] | None) -> dict:
    """Stubs + one server (plain, or ``extra`` CLI flags such as ``--ray --replicas 2``) through every level."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    chunk_delay = 1.0 / args.stream_speed if args.stream_speed > 0 else 0.0
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="routellm-load-") as tmp:
        try:
            stub_cmd = ["-c", STUBS] if args.stubs == "app" else [str(Path(__file__).with_name("lean_stub.py"))]
            stubs = subprocess.Popen([sys.executable, *stub_cmd, str(args.upstream_latency), str(chunk_delay)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            procs.append(stubs)
            assert stubs.stdout is not None
            strong_url, weak_url = stubs.stdout.readline().split()
            config = {"strong": {"base_url": strong_url, "model": "strong-model", "timeout": 30 + args.upstream_latency},
                      "weak": {"base_url": weak_url, "model": "weak-model", "timeout": 30 + args.upstream_latency},
                      "routers": {"mf": router_path}, "aliases": {"bench": {"router": "mf", "threshold": threshold}},
                      **({"decision_cache": args.decision_cache} if args.decision_cache else {}),
                      **({"scoring_workers": args.scoring_workers} if args.scoring_workers else {}),
                      **({"max_batch": args.max_batch} if args.max_batch else {})}
            config_path = Path(tmp) / "server.json"
            config_path.write_text(json.dumps(config))
            server, server_url = start_server(config_path, env, Path(tmp) / "server.log", extra)
            procs.append(server)
            bench = Bench(args, prompts, (strong_url, weak_url, server_url))
            bench.ray = bool(extra)
            bench.server_pid, bench.stubs_pid = server.pid, stubs.pid
            warm_direct, warm_routed = bench.bodies(16)
            asyncio.run(run_phase(warm_routed + warm_direct, 8, args.timeout))
            levels = {str(c): bench.level(c, max(args.requests, 2 * c) if c > 1 else max(1, args.requests // 10))
                      for c in args.concurrency}
            out: dict = {"levels": levels}
            if args.capacity:
                out["capacity"] = capacity(bench, args.rates, args.capacity_seconds, args.p99_budget_ms)
            return out
        finally:
            for proc in reversed(procs):
                if proc.stdin:
                    proc.stdin.close()
                else:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def headline(levels: dict) -> dict:
    """The level whose figures go top-level: concurrency 64 when run, else the highest."""
    return levels["64"] if "64" in levels else levels[max(levels, key=int)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400,
                        help="requests per concurrency level (at least 2x the concurrency; a tenth at concurrency 1)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64], help="one or more levels")
    parser.add_argument("--sweep", action="store_true", help="concurrency 1, 16, 64 and 256")
    parser.add_argument("--upstream-latency", type=float, default=0.0, metavar="SECONDS",
                        help="the stub upstreams answer (or start streaming) after this delay; 1 is a real LLM call")
    parser.add_argument("--stream-speed", type=float, default=0.0, metavar="TOKENS_PER_S",
                        help="streamed answers arrive at this many chunks (words) per second (0: at once)")
    parser.add_argument("--stream-fraction", type=float, default=0.5)
    parser.add_argument("--stubs", choices=["lean", "app"], default="lean",
                        help="upstream stubs: lean (benchmarks/lean_stub.py, raw asyncio, little CPU) or app (the "
                             "project's FastAPI OpenAIStubServer, ~2 ms of CPU a request taken from the server)")
    parser.add_argument("--ramp-up", type=float, default=None, metavar="SECONDS",
                        help="closed loop: clients start evenly over this many seconds (default: the upstream "
                             "latency; 0: all at once, one synchronised burst)")
    parser.add_argument("--router", help="router checkpoint or name (default: a small cached MF router)")
    parser.add_argument("--strong-fraction", type=float, default=0.5,
                        help="threshold calibrated so this share of the prompts goes to the strong model")
    parser.add_argument("--scoring-workers", type=int, default=None,
                        help="the server's scoring_workers (default: its cores); 1 is the old one-thread server")
    parser.add_argument("--max-batch", type=int, default=None, help="the server's max_batch (default: its own)")
    parser.add_argument("--decision-cache", type=int, default=0, help="the server's decision_cache (0: off)")
    parser.add_argument("--capacity", action="store_true",
                        help="also find the highest open-loop rate at which the added p99 stays within budget")
    parser.add_argument("--rates", type=float, nargs="+", default=[20, 40, 60, 80, 100, 120, 140],
                        help="request rates (per second) tried in order by --capacity")
    parser.add_argument("--capacity-seconds", type=float, default=10.0, help="seconds of traffic per rate")
    parser.add_argument("--p99-budget-ms", type=float, default=100.0)
    parser.add_argument("--ray-replicas", type=int, nargs="+", default=None, metavar="N",
                        help="serve through Ray Serve with N replicas (several values: compare them); needs [ray]")
    parser.add_argument("--ray-haproxy", action="store_true",
                        help="with --ray-replicas: Ray Serve's HAProxy ingress (serve --ray-haproxy)")
    parser.add_argument("--with-plain", action="store_true",
                        help="with --ray-replicas: run the plain server first, to compare against it")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request client timeout, seconds")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args()
    if args.sweep:
        args.concurrency = [1, 16, 64, 256]
    if args.requests < 1 or min(args.concurrency) < 1 or not 0 <= args.stream_fraction <= 1 or args.upstream_latency < 0:
        parser.error("--requests and --concurrency must be >= 1, --stream-fraction in [0, 1], --upstream-latency >= 0")

    if args.ramp_up is None:
        args.ramp_up = args.upstream_latency
    from routellm_core import calibrate_threshold, load_router
    from routellm_core.server.routing import use_memory_embedder

    router_path = args.router or str(default_router())
    levels_n = sum(max(args.requests, 2 * c) for c in args.concurrency)
    total = 16 + levels_n + (int(sum(args.rates) * args.capacity_seconds) + len(args.rates) if args.capacity else 0)
    haproxy = ["--ray-haproxy"] if args.ray_haproxy else []
    variants = [[]] if not args.ray_replicas else [["--ray", *haproxy, "--replicas", str(n)]
                                                    for n in args.ray_replicas]
    if args.ray_replicas and args.with_plain:
        variants.insert(0, [])
    prompts = load_prompts(total * len(variants))
    router = load_router(router_path, cache=False)
    use_memory_embedder(router)  # as the server does: these prompts stay out of the disk cache
    threshold = calibrate_threshold(router, prompts[:200], args.strong_fraction)

    runs: dict = {}
    for i, extra in enumerate(variants):
        name = "plain" if not extra else f"ray-{extra[-1]}-replicas"
        runs[name] = run_variant(args, router_path, threshold, prompts[i * total:(i + 1) * total], extra)
    first = next(iter(runs.values()))
    report = {"router": router_path, "threshold": round(threshold, 6), "cpu_cores": os.cpu_count(),
              "load_average_at_end": round(os.getloadavg()[0], 2), "upstream_latency_s": args.upstream_latency,
              "stream_speed_tokens_per_s": args.stream_speed, "ramp_up_s": args.ramp_up, "stubs": args.stubs, "prompts": "arena_hard", **headline(first["levels"]),
              "levels": first["levels"], **({"capacity": first["capacity"]} if "capacity" in first else {})}
    report["errors"] = sum(level["errors"] for run in runs.values() for level in run["levels"].values())
    if len(runs) > 1 or args.ray_replicas:
        report["variants"] = runs
        tops = {name: headline(run["levels"])["throughput_rps"] for name, run in runs.items()}
        report["throughput_rps_by_variant"] = tops
        if len(tops) > 1:
            base = next(iter(tops.values()))
            report["throughput_ratio_to_first"] = {name: round(v / base, 2) for name, v in tops.items()}
    text = json.dumps(report, indent=2)
    print(text)
    summary = [f"c={c}: added p50 {lv['added_p50_ms']} ms, p99 {lv['added_p99_ms']} ms, routing {lv['routing_mean_ms']} ms, "
               f"errors {lv['errors']}, {lv['throughput_rps']} req/s, server CPU {lv['server_cpu_ms_per_request']} ms/request" for c, lv in first["levels"].items()]
    if "capacity" in first:
        summary.append(f"capacity (added p99 <= {args.p99_budget_ms:g} ms): {first['capacity']['capacity_rps']} req/s")
    print("\n".join(summary), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
