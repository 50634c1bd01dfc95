"""``routellm-core serve --config FILE``: run the routing server with uvicorn (loopback by default).

Imports nothing heavy until the command runs, so ``routellm-core --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from ..errors import InvalidInputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="OpenAI-compatible routing server (FastAPI + uvicorn)")
    p.add_argument("--config", required=True, help="server config file (.yaml, .yml, .toml or .json)")
    p.add_argument("--host", default=None, help="address to bind (default: the config's host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: the config's port, 6060)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    ray = p.add_argument_group("Ray Serve (the [ray] extra; docs/server.md)")
    ray.add_argument("--ray", action="store_true", help="serve the same app as a Ray Serve deployment (local Ray)")
    ray.add_argument("--replicas", type=int, default=1, help="replicas (fixed; default 1)")
    ray.add_argument("--min-replicas", type=int, default=None, help="autoscale: fewest replicas")
    ray.add_argument("--max-replicas", type=int, default=None, help="autoscale: most replicas (turns autoscaling on)")
    ray.add_argument("--target-ongoing-requests", type=float, default=32.0,
                     help="autoscale: requests in flight per replica that Ray aims for")
    ray.add_argument("--ray-cpus", type=float, default=None, help="CPUs for the local Ray (default: all cores)")
    ray.add_argument("--ray-haproxy", action="store_true",
                     help="Ray Serve's HAProxy ingress (experimental in Ray) instead of its Python HTTP proxy: "
                          "more requests/s on few cores (docs/performance.md)")
    p.set_defaults(func=handler)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a one-line error naming the address."""
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"port must be in 0..65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on connections of a socket whose proto
    # says TCP; without it every keep-alive response waited ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def handler(args: argparse.Namespace) -> int:
    from .config import load_config

    config = load_config(args.config)
    try:
        import uvicorn

        from .app import create_app
    except ModuleNotFoundError as exc:
        raise InvalidInputError(f"serve needs the server extra ({exc.name} is missing): "
                                "pip install 'routellm-plugin[server]'") from None
    host = args.host or config.host
    port = config.port if args.port is None else args.port
    if args.ray:
        return _ray(args, config, host, port)
    sock = bind(host, port)
    # One process = one server: size torch's thread pool so scoring leaves a core to the event loop
    # (an explicit $ROUTELLM_TORCH_THREADS wins). Oversubscribed torch threads made routing ~10x slower
    # on a busy 2-core machine.
    threads = config.torch_threads or max(1, (os.cpu_count() or 2) - 1)
    os.environ.setdefault("ROUTELLM_TORCH_THREADS", str(threads))
    app = create_app(config)
    if host not in {"127.0.0.1", "localhost", "::1"}:
        print(f"warning: listening on {host}, reachable from other machines", file=sys.stderr)
    print(f"routing server on http://{host}:{sock.getsockname()[1]}/v1 "
          f"(routers: {', '.join(config.routers)}; auth: {'on' if config.api_keys else 'off'})", file=sys.stderr)
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
    return 0


def _ray(args: argparse.Namespace, config: Any, host: str, port: int) -> int:
    from .ray_serve import RayOptions, ray_missing, serve_with_ray

    if args.ray_haproxy:  # read by Ray's serve constants at import, in this process and in those Ray starts
        os.environ["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
    missing = ray_missing()
    if missing:
        raise InvalidInputError(missing)
    try:
        options = RayOptions(args.replicas, args.min_replicas, args.max_replicas, args.target_ongoing_requests,
                             cpus=args.ray_cpus)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if port == 0:  # Ray's proxy needs a fixed port: take a free one
        probe = bind(host, 0)
        port = probe.getsockname()[1]
        probe.close()

    def ready(url: str) -> None:
        print(f"routing server on {url}/v1 (Ray Serve, {args.replicas if not options.autoscaling else 'autoscaled'} "
              f"replicas; routers: {', '.join(config.routers)}; auth: {'on' if config.api_keys else 'off'})",
              file=sys.stderr, flush=True)

    serve_with_ray(args.config, config, host, port, options, ready)
    return 0
