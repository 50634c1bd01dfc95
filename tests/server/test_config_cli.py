"""Config files (YAML/TOML/JSON, secrets from env) and the ``serve`` subcommand."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from routellm_core.errors import RouteLLMError
from routellm_core.server import ConfigError, create_app, load_config
from routellm_core.server.config import build_config

pytestmark = pytest.mark.timeout(120)

YAML = """\
strong:
  base_url: http://127.0.0.1:9/v1
  model: gpt-4o
  api_key_env: TEST_STRONG_KEY
weak:
  base_url: http://127.0.0.1:10/v1/
  model: llama-3-8b
routers:
  mf: ./ckpt
aliases:
  balanced: {router: mf, threshold: 0.116}
  cheap: router-mf-0.9
api_keys_env: TEST_CLIENT_KEYS
max_body_bytes: 200000
"""

TOML = """\
routers = { mf = "./ckpt" }
api_keys_env = "TEST_CLIENT_KEYS"
max_body_bytes = 200000

[strong]
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4o"
api_key_env = "TEST_STRONG_KEY"

[weak]
base_url = "http://127.0.0.1:10/v1/"
model = "llama-3-8b"

[aliases]
balanced = { router = "mf", threshold = 0.116 }
cheap = "router-mf-0.9"
"""


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("TEST_STRONG_KEY", "sk-strong-secret-123")
    monkeypatch.setenv("TEST_CLIENT_KEYS", "client-a, client-b")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / "ckpt").mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_toml_json_give_the_same_config(tmp_path, env):
    import yaml

    configs = [load_config(_write(tmp_path, "c.yaml", YAML)), load_config(_write(tmp_path, "c.toml", TOML)),
               load_config(_write(tmp_path, "c.json", json.dumps(yaml.safe_load(YAML))))]
    dumped = [c.model_dump(mode="json") for c in configs]
    assert dumped[0] == dumped[1] == dumped[2]
    config = configs[0]
    assert config.strong.api_key.get_secret_value() == "sk-strong-secret-123"
    assert [k.get_secret_value() for k in config.api_keys] == ["client-a", "client-b"]
    assert config.weak.base_url == "http://127.0.0.1:10/v1" and config.weak.api_key is None
    assert config.routers["mf"].source == str((tmp_path / "ckpt").resolve())  # relative to the config file
    assert config.aliases["cheap"].threshold == 0.9 and config.aliases["balanced"].router == "mf"
    assert config.host == "127.0.0.1" and config.port == 6060


def test_secrets_never_show(tmp_path, env, caplog):
    config = load_config(_write(tmp_path, "c.yaml", YAML))
    for text in (repr(config), str(config), json.dumps(config.model_dump(mode="json"))):
        assert "sk-strong-secret-123" not in text and "client-a" not in text


@pytest.mark.parametrize("text, words", [
    ("strong: [1, 2\n", "not valid YAML"),
    ("- a\n- b\n", "mapping at top level"),
    ("weak: {base_url: http://x/v1, model: m}\nrouters: {mf: mf}\n", "missing: strong"),
    (YAML.replace("model: gpt-4o", "model: gpt-4o\n  colour: red"), "strong.colour"),
    (YAML.replace("http://127.0.0.1:9/v1", "ftp://x"), "http(s) URL"),
    (YAML.replace("router: mf, threshold: 0.116", "router: nope, threshold: 0.1"), "names router 'nope'"),
    (YAML.replace("threshold: 0.116", "threshold: abc"), "aliases.balanced.threshold"),
    (YAML.replace("router-mf-0.9", "router-mf-1.5"), "threshold must be in [0, 1]"),
    (YAML.replace("TEST_STRONG_KEY", "TEST_UNSET_VARIABLE"), "TEST_UNSET_VARIABLE"),
])
def test_config_errors_are_one_line(tmp_path, env, text, words):
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, "bad.yaml", text))
    assert words in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, RouteLLMError)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml, \.toml or \.json"):
        load_config(_write(tmp_path, "c.ini", "x"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "c.toml", "a = [\n"))


def test_unknown_router_in_config_fails_at_startup(server_config):
    with pytest.raises(ConfigError, match="router 'x'.*unknown router 'no_such_router'"):
        create_app(build_config({**server_config, "routers": {"x": "no_such_router"}, "aliases": {}}))


def test_upstream_key_from_env_is_sent_and_never_logged(make_server, openai_pair, monkeypatch, caplog):
    """The strong upstream demands a key: with the env key it answers; a wrong one is the caller's 401.

    Changed by issue 22 (one fallback rule for the libraries and the server): a 401 from an upstream
    no longer falls back to the other model; it goes back to the client, as any non-context 4xx does.
    """
    strong, weak = openai_pair
    strong.api_key = "sk-upstream-777"
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-upstream-777")
    caplog.set_level(logging.DEBUG)
    good = make_server(strong={"api_key_env": "TEST_UPSTREAM_KEY"})
    body = {"model": "always-strong", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{good.base_url}/chat/completions", json=body).json()["model"] == strong.model
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-wrong-888")
    bad = make_server(strong={"api_key_env": "TEST_UPSTREAM_KEY"})
    asked = len(weak.requests)
    response = httpx.post(f"{bad.base_url}/chat/completions", json=body)
    assert response.status_code == 401 and len(weak.requests) == asked  # passed back, no fallback
    assert "HTTP 401" in caplog.text  # the failure is logged ...
    assert "sk-upstream-777" not in caplog.text and "sk-wrong-888" not in caplog.text  # ... the keys are not


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "routellm_core.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.mark.parametrize("text", [None, "strong: [1, 2\n", "routers: {}\n"])
def test_serve_with_a_bad_config_exits_2_with_one_line(tmp_path, text):
    path = tmp_path / "server.yaml"
    if text is not None:
        path.write_text(text)
    result = _cli("serve", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("routellm-core: error:") and "Traceback" not in result.stderr
    assert str(path) in lines[0]


def test_serve_port_in_use_exits_2(tmp_path, server_config, server):
    path = tmp_path / "server.json"
    path.write_text(json.dumps(server_config))
    result = _cli("serve", "--config", str(path), "--port", str(server.port))
    assert result.returncode == 2 and "cannot listen on 127.0.0.1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_runs_and_answers(tmp_path, server_config, openai_pair):
    """The real CLI process: binds 127.0.0.1, answers, and stops on SIGINT."""
    path = tmp_path / "server.yaml"
    import yaml

    path.write_text(yaml.safe_dump(server_config))
    proc = subprocess.Popen([sys.executable, "-m", "routellm_core.cli", "serve", "--config", str(path), "--port", "0",
                             "--log-level", "warning"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            match = re.search(r"routing server on (http://127\.0\.0\.1:\d+/v1)", line)
            url = match.group(1) if match else None
        assert url, "server did not announce its address"
        for _ in range(100):
            try:
                if httpx.get(url.removesuffix("/v1") + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        answer = httpx.post(f"{url}/chat/completions", timeout=30, json={
            "model": "always-weak", "messages": [{"role": "user", "content": "hello"}]})
        assert answer.status_code == 200 and answer.json()["model"] == "weak-model"
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully, then the CLI exits 130 as for Ctrl-C
        assert proc.wait(timeout=20) in (0, 130)
        assert "Traceback" not in proc.stderr.read()
