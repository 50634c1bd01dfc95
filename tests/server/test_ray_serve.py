"""The routing app as a Ray Serve deployment: a local Ray (2 CPUs), two replicas, routed through, stopped.

Skips, saying why, when the ``[ray]`` extra is not installed (the default CI does not install it).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from server_helpers import PROMPT

from routellm_core.server.ray_serve import RayOptions, worker_env, deployment_options, ray_missing


def test_deployment_options_fixed_and_autoscaled():
    fixed = deployment_options(RayOptions(replicas=2, cpus=2))
    assert fixed["num_replicas"] == 2 and "autoscaling_config" not in fixed
    assert fixed["ray_actor_options"]["num_cpus"] == 1.0  # two replicas share the two cores
    scaled = deployment_options(RayOptions(min_replicas=1, max_replicas=4, target_ongoing_requests=8, cpus=2))
    assert "num_replicas" not in scaled
    assert scaled["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 8}
    assert scaled["ray_actor_options"]["num_cpus"] == 0.5
    with pytest.raises(ValueError):
        RayOptions(min_replicas=3, max_replicas=2)


@pytest.fixture
def ray_serve():
    missing = ray_missing()
    if missing:
        pytest.skip(missing)
    import ray
    from ray import serve

    yield ray, serve
    serve.shutdown()
    ray.shutdown()


@pytest.mark.timeout(300)
def test_two_replicas_route_stream_fall_back_and_stop(ray_serve, tmp_path, openai_pair, small_router_path,
                                                      monkeypatch):
    ray, serve = ray_serve
    from routellm_core.server.cli import bind
    from routellm_core.server.config import load_config
    from routellm_core.server.ray_serve import build_application

    strong, weak = openai_pair
    path = tmp_path / "server.json"
    monkeypatch.setenv("ROUTELLM_TEST_CLIENT_KEYS", "k1,k2")
    path.write_text(json.dumps({
        "strong": {"base_url": strong.base_url, "model": strong.model, "timeout": 10},
        "weak": {"base_url": weak.base_url, "model": weak.model, "timeout": 10},
        "routers": {"mf": str(small_router_path)}, "api_keys_env": "ROUTELLM_TEST_CLIENT_KEYS",
        "aliases": {"always-strong": {"router": "mf", "threshold": 0.0}}}))
    probe = bind("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": worker_env(load_config(path))})
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_application(path, RayOptions(replicas=2, cpus=2)), name="routellm", route_prefix="/")
    status = serve.status().applications["routellm"].deployments["routellm"]
    assert status.replica_states.get("RUNNING") == 2

    url = f"http://127.0.0.1:{port}"
    auth = {"authorization": "Bearer k2"}
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").json()["routers"] == ["mf"]
        assert client.get("/v1/models").status_code == 401  # auth, as in the plain server
        probs = {client.post("/v1/route", headers=auth, json={"model": "router-mf-0.5", "prompt": PROMPT}
                             ).json()["probability"] for _ in range(8)}
        assert len(probs) == 1  # every replica decides the same
        chat = {"model": "router-mf-0.5", "messages": [{"role": "user", "content": PROMPT}]}
        answer = client.post("/v1/chat/completions", headers=auth, json=chat)
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
        with client.stream("POST", "/v1/chat/completions", headers=auth, json={**chat, "stream": True}) as stream:
            lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]" and len(lines) > 2
        strong.fail_mode = "error"
        fell_back = client.post("/v1/chat/completions", headers=auth, json={**chat, "model": "always-strong"})
        assert fell_back.status_code == 200 and fell_back.headers["x-routellm-fallback"] == "true"
        assert fell_back.headers["x-routellm-role"] == "weak"
        assert "routellm_routing_latency_seconds" in client.get("/metrics").text
    serve.delete("routellm")
    deadline = time.monotonic() + 30
    while "routellm" in serve.status().applications and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "routellm" not in serve.status().applications
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/health", timeout=5).raise_for_status()


def test_serve_ray_without_the_extra_is_one_line_naming_it(tmp_path, server_config, monkeypatch, capsys):
    """What a user without ``[ray]`` sees (simulated here, whether or not Ray is installed): exit 2, one line."""
    import routellm_core.server.ray_serve as ray_serve
    from routellm_core.cli import main

    path = tmp_path / "server.json"
    path.write_text(json.dumps(server_config))
    monkeypatch.setattr(ray_serve, "ray_missing", lambda: "Ray Serve is not installed (ray is missing): pip install "
                                                          "'routellm-plugin[ray]'")
    assert main(["serve", "--config", str(path), "--ray", "--replicas", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "routellm-plugin[ray]" in err and len(err.splitlines()) == 1
    monkeypatch.setattr(ray_serve, "ray_missing", lambda: None)
    assert main(["serve", "--config", str(path), "--ray", "--min-replicas", "3", "--max-replicas", "2"]) == 2
    assert "min_replicas" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_serve_ray_haproxy_routes_through_two_replicas(tmp_path, server_config):
    """``serve --ray --ray-haproxy``: Ray's HAProxy ingress in front of the replicas (make test-slow)."""
    import re
    import shutil
    import subprocess
    import sys

    if missing := ray_missing():
        pytest.skip(missing)
    if shutil.which("pgrep") is None:
        pytest.skip("pgrep (procps) is needed to see the HAProxy process")
    from routellm_core.server.cli import bind

    path = tmp_path / "server.json"
    path.write_text(json.dumps(server_config))
    probe = bind("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    log = tmp_path / "serve.log"
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "routellm_core.cli", "serve", "--config", str(path), "--ray",
                                 "--ray-haproxy", "--replicas", "2", "--port", str(port)], stderr=fh)
    try:
        deadline = time.monotonic() + 240
        while not re.search(r"routing server on http://127\.0\.0\.1:\d+/v1", log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            chat = {"model": "router-mf-0.5", "messages": [{"role": "user", "content": PROMPT}]}
            answers = [client.post("/v1/chat/completions", json=chat) for _ in range(6)]
        assert all(a.status_code == 200 and a.json()["choices"][0]["message"]["content"] for a in answers)
        assert len({a.json()["routellm"]["probability"] for a in answers}) == 1
        assert subprocess.run(["pgrep", "-x", "haproxy"], capture_output=True).returncode == 0  # HAProxy serves
    finally:
        proc.terminate()
        proc.wait(timeout=60)
