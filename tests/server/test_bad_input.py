"""Bad input gets its 4xx in OpenAI's error shape, never a 500, and the server keeps serving."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest

from routellm_core import register_router
from routellm_core.routers.base import Router

from server_helpers import PROMPT

pytestmark = pytest.mark.timeout(60)

GOOD = {"model": "router-mf-0.5", "messages": [{"role": "user", "content": PROMPT}]}


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def _post(server, body=None, path="/chat/completions", **kwargs) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, timeout=30, **kwargs)


@pytest.mark.parametrize("raw, words", [
    (b'{"model": "router-mf-0.5", "messages": [', "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "JSON object"),
    (b"\xff\xfe garbage", "not valid JSON"),
    (b'{"model": "router-mf-0.5", "temperature": NaN, "messages": []}', "NaN is not valid JSON"),
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
])
def test_malformed_bodies_are_400(server, raw, words):
    error = _error(httpx.post(f"{server.base_url}/chat/completions", content=raw,
                              headers={"content-type": "application/json"}), 400)
    assert words in error["message"] and error["type"] == "invalid_request_error"


@pytest.mark.parametrize("change, param", [
    ({"messages": "hello"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"content": "no role"}]}, "messages.0.role"),
    ({"messages": [{"role": "user", "content": 42}]}, "messages.0.content"),
    ({"model": 7}, "model"),
    ({"stream": "yes"}, "stream"),
    ({"temperature": "hot"}, "temperature"),
    ({"max_tokens": 1.5}, "max_tokens"),
])
def test_wrong_types_are_400_naming_the_field(server, change, param):
    error = _error(_post(server, {**GOOD, **change}), 400)
    assert error["param"].startswith(param.split(".")[0]) and param in error["message"]


def test_missing_model_is_400(server):
    body = {k: v for k, v in GOOD.items() if k != "model"}
    assert _error(_post(server, body), 400)["param"] == "model"


@pytest.mark.parametrize("model, words", [
    ("router-nosuch-0.5", "unknown router 'nosuch'"),
    ("router-mf-abc", "threshold 'abc'"),
    ("router-mf-1.5", "threshold '1.5'"),
    ("router-mf-nan", "threshold 'nan'"),
    ("router-mf--0.2", "threshold"),
    ("router-mf", "lacks a threshold"),
    ("gpt-4o", "unknown model 'gpt-4o'"),
    ("", "non-empty"),
])
@pytest.mark.parametrize("path", ["/chat/completions", "/route"])
def test_bad_model_names_are_400(server, openai_pair, model, words, path):
    error = _error(_post(server, {**GOOD, "model": model}, path=path), 400)
    assert words in error["message"] and error["param"] == "model"
    assert not any(stub.requests for stub in openai_pair)  # nothing went upstream


@pytest.mark.parametrize("messages", [
    [{"role": "system", "content": "You are terse."}],
    [{"role": "user", "content": "   "}],
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}],
])
def test_no_user_text_to_route_on_is_400(server, messages):
    assert _error(_post(server, {**GOOD, "messages": messages}), 400)["param"] == "messages"


def test_multimodal_user_text_is_routed(server, openai_pair):
    content = [{"type": "text", "text": PROMPT}, {"type": "image_url", "image_url": {"url": "http://x/a.png"}}]
    response = _post(server, {**GOOD, "model": "always-weak", "messages": [{"role": "user", "content": content}]})
    assert response.status_code == 200 and openai_pair[1].requests[-1]["messages"][0]["content"] == content


def test_route_endpoint_input_errors(server):
    assert _error(_post(server, {"model": "always-weak"}, path="/route"), 400)["param"] == "prompt"
    both = {"model": "always-weak", "prompt": "x", "messages": GOOD["messages"]}
    assert _error(_post(server, both, path="/route"), 400)["param"] == "prompt"
    assert _error(_post(server, {"model": "always-weak", "prompt": " "}, path="/route"), 400)["param"] == "prompt"
    assert _error(_post(server, {"model": "always-weak", "prompt": 3}, path="/route"), 400)["param"] == "prompt"


def test_huge_bodies_are_413(make_server, openai_pair):
    server = make_server(max_body_bytes=64 * 1024)
    big = {**GOOD, "messages": [{"role": "user", "content": "word " * 100_000}]}  # ~500 KB
    error = _error(_post(server, big), 413)
    assert "64" in error["message"] or "65536" in error["message"]

    def chunked():  # no content-length: the limit is enforced while reading
        yield b'{"model": "router-mf-0.5", "messages": [{"role": "user", "content": "'
        for _ in range(200):
            yield b"x" * 4096
        yield b'"}]}'

    _error(httpx.post(f"{server.base_url}/chat/completions", content=chunked(), timeout=30), 413)
    assert not any(stub.requests for stub in openai_pair)
    ok = _post(server, {**GOOD, "messages": [{"role": "user", "content": "word " * 1000}]})
    assert ok.status_code == 200  # a body under the limit is fine


def test_unknown_paths_and_methods(server):
    assert _error(httpx.get(f"{server.base_url}/nosuch"), 404)["message"].startswith("unknown endpoint")
    _error(httpx.get(f"{server.base_url}/chat/completions"), 405)


def test_server_survives_a_barrage_of_bad_input(server):
    bodies = [b"{", b"null", b'"x"', b'{"model": null}', b'{"model": "router-mf-abc", "messages": [{}]}',
              b'{"model": "router-mf-0.5", "messages": [{"role": "user", "content": {"a": 1}}]}']
    for raw in bodies * 5:
        response = httpx.post(f"{server.base_url}/chat/completions", content=raw)
        assert 400 <= response.status_code < 500, raw
    assert _post(server, {**GOOD, "model": "always-weak"}).status_code == 200
    assert httpx.get(f"{server.url}/health").status_code == 200


class SlowRouter(Router):
    """A real router that takes a while per call: shows scoring runs off the event loop."""

    name = "slow_test"
    trainable = False
    calls: list[int] = []

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds

    def _predict(self, prompts: list[str]) -> np.ndarray:
        assert threading.current_thread() is not threading.main_thread()
        SlowRouter.calls.append(len(prompts))
        time.sleep(self.seconds)
        return np.full(len(prompts), 0.5)


def test_router_scoring_does_not_block_the_event_loop(make_server):
    register_router("slow_test", SlowRouter)
    SlowRouter.calls.clear()
    server = make_server(routers={"slow": {"source": "slow_test", "options": {"seconds": 1.0}}},
                         aliases={}, warmup=False)
    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(_post(server, {**GOOD, "model": "router-slow-0.4"})))
               for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.3)  # the router thread is now busy
    start = time.monotonic()
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    # A blocked loop would answer after the six 1 s router calls; 1.5 s leaves room for a busy machine.
    assert time.monotonic() - start < 1.5
    for t in threads:
        t.join(timeout=30)
    assert [r.status_code for r in results] == [200] * 6
    assert all(r.headers["x-routellm-role"] == "strong" for r in results)
    assert sum(SlowRouter.calls) == 6 and len(SlowRouter.calls) < 6  # requests that waited were batched


def test_overloaded_router_answers_503_not_a_hang(make_server):
    register_router("slow_test", SlowRouter)
    server = make_server(routers={"slow": {"source": "slow_test", "options": {"seconds": 3.0}}},
                         aliases={}, warmup=False, routing_timeout=0.5)
    start = time.monotonic()
    error = _error(_post(server, {**GOOD, "model": "router-slow-0.4"}), 503)
    # The 503 comes after the 0.5 s routing timeout; a server that waited for the router would take 3 s.
    assert error["code"] == "router_overloaded" and time.monotonic() - start < 2.5
    time.sleep(3.0)  # the batch in progress finishes; the server still answers
    assert httpx.get(f"{server.url}/health").status_code == 200
