"""The routing server as a Ray Serve deployment: the same FastAPI app, N replicas behind Ray's HTTP proxy.

Each replica builds the app from the config *data* (never a pickled app or router): it loads the
routers itself and serves the same endpoints, auth, metrics, fallback and micro-batching as
``routellm-core serve``. Routing needs nothing shared between replicas (a decision depends only on
the prompt and the router files); the feedback store and spend counters name their shared backends
in their own config sections (docs/server.md, "Ray Serve").

    routellm-core serve --config server.yaml --ray --replicas 2          # local Ray, loopback
    serve run examples/serve.yaml                                          # Ray's own CLI (app_builder)

Replicas read the config file themselves (a path every node can read: a ConfigMap in KubeRay) and
take secrets from their own environment, so no key travels through Ray.

Ray is imported only when a deployment is built, so the package works without the ``[ray]`` extra.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import ServerConfig, load_config

__all__ = ["RayOptions", "app_builder", "build_application", "deployment_options", "ray_missing", "serve_with_ray",
           "worker_env"]


def ray_missing() -> str | None:
    """Why Ray Serve cannot run here (None when it can)."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ModuleNotFoundError as exc:
        return f"Ray Serve is not installed ({exc.name} is missing): pip install 'routellm-plugin[ray]'"
    return None


class RayOptions:
    """Replicas (fixed, or autoscaled between min and max) and what each replica may take."""

    def __init__(self, replicas: int = 1, min_replicas: int | None = None, max_replicas: int | None = None,
                 target_ongoing_requests: float = 32.0, max_ongoing_requests: int = 1024,
                 cpus: float | None = None) -> None:
        if replicas < 1 or (min_replicas is not None and min_replicas < 0) or \
                (max_replicas is not None and max_replicas < max(1, min_replicas or 0)):
            raise ValueError("need replicas >= 1 and 0 <= min_replicas <= max_replicas (max_replicas >= 1)")
        self.replicas, self.min_replicas, self.max_replicas = replicas, min_replicas, max_replicas
        self.target_ongoing_requests, self.max_ongoing_requests = target_ongoing_requests, max_ongoing_requests
        self.cpus = cpus if cpus is not None else float(os.cpu_count() or 1)

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas is not None

    @property
    def most_replicas(self) -> int:
        return self.max_replicas if self.max_replicas is not None else self.replicas


def deployment_options(options: RayOptions) -> dict[str, Any]:
    """``serve.deployment`` options: a replica's CPU share, its concurrency, fixed or autoscaled replicas."""
    out: dict[str, Any] = {"name": "routellm", "max_ongoing_requests": options.max_ongoing_requests,
                           "ray_actor_options": {"num_cpus": round(options.cpus / options.most_replicas, 3)}}
    if options.autoscaling:
        out["autoscaling_config"] = {"min_replicas": options.min_replicas if options.min_replicas is not None else 1,
                                     "max_replicas": options.max_replicas,
                                     "target_ongoing_requests": options.target_ongoing_requests}
    else:
        out["num_replicas"] = options.replicas
    return out


def build_application(config_path: str | os.PathLike[str], options: RayOptions | None = None) -> Any:
    """A bound Ray Serve application of the routing app for the config file at ``config_path``.

    Replicas get the file's path, not its contents: each reads it and resolves secrets
    (``api_key_env``) from its own environment, so no key travels through Ray.
    """
    from ray import serve

    from .app import create_app

    options = options or RayOptions()
    path = str(Path(config_path).resolve())
    load_config(path)  # fail here with the usual one-line error, not in every replica
    workers = max(1, int(options.cpus // options.most_replicas))

    class RouteLLMReplica:
        def __init__(self, path: str, workers: int) -> None:
            self.path, self.workers = path, workers

        def __serve_build_asgi_app__(self) -> Any:
            config = load_config(self.path)
            if config.scoring_workers is None:  # each replica encodes on its share of the cores
                config.scoring_workers = self.workers
            return create_app(config)

    ingress = serve.ingress()(RouteLLMReplica)
    return serve.deployment(**deployment_options(options))(ingress).bind(path, workers)


def app_builder(args: dict[str, Any]) -> Any:
    """For ``serve run`` / a Serve config file: ``args: {config: server.yaml, replicas: 2, ...}``."""
    keys = ("replicas", "min_replicas", "max_replicas", "target_ongoing_requests", "max_ongoing_requests", "cpus")
    return build_application(str(args["config"]), RayOptions(**{k: args[k] for k in keys if k in args}))


def serve_with_ray(config_path: str, config: ServerConfig, host: str, port: int, options: RayOptions,
                   ready: Any = None) -> None:
    """Start a local Ray (``options.cpus`` CPUs), deploy, call ``ready(url)``, and serve until interrupted."""
    import signal
    import time

    import ray
    from ray import serve

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM too: shut Ray down rather than leave its processes behind

    signal.signal(signal.SIGTERM, stop)
    ray.init(num_cpus=max(1, round(options.cpus)), include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True, runtime_env={"env_vars": worker_env(config)})
    try:
        serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": "WARNING"})
        serve.run(build_application(config_path, options), name="routellm", route_prefix="/", blocking=False)
        if ready is not None:
            ready(f"http://{host}:{port}")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()


def worker_env(config: ServerConfig) -> dict[str, str]:
    """What local replicas need from this environment: import path, caches, offline flags, thread caps, key variables."""
    keys = ["PYTHONPATH", "ROUTELLM_CACHE_DIR", "ROUTELLM_DATA_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
            "TOKENIZERS_PARALLELISM", "ROUTELLM_ONNX_THREADS", "ROUTELLM_TORCH_THREADS"]
    upstreams = [config.strong, config.weak, *(config.multi_model.models.values() if config.multi_model else [])]
    keys += [u.api_key_env for u in upstreams if u is not None and u.api_key_env]
    if config.api_keys_env:
        keys.append(config.api_keys_env)
    return {k: os.environ[k] for k in keys if k in os.environ}
