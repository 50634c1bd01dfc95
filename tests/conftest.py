"""Shared fixtures: small real routers trained on real data subsets, and loopback OpenAI servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from routellm_core.datadir import resolve_data_dir

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _one_tls_context():
    """One default TLS context for every httpx client the tests make.

    httpx loads certifi's CA bundle for each new client (about 50 ms of CPU here), even for the
    plain-http loopback calls the tests make by the thousand (``httpx.post``, OpenAI SDK clients).
    An ``SSLContext`` is safe to share, so the suite builds it once; nothing else changes.
    """
    import httpx._transports.default as transport

    original = transport.create_ssl_context
    shared: dict[bool, Any] = {}

    def once(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is not True or cert is not None:
            return original(verify=verify, cert=cert, trust_env=trust_env)
        if trust_env not in shared:
            shared[trust_env] = original(verify=verify, cert=cert, trust_env=trust_env)
        return shared[trust_env]

    transport.create_ssl_context = once
    yield
    transport.create_ssl_context = original


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return resolve_data_dir()


@pytest.fixture(scope="session")
def alpaca_subset(data_dir):
    """AlpacaEval records for 150 instructions (every generator): real pairwise data, quick to embed."""
    from routellm_core.loaders import load_alpaca_eval

    records = load_alpaca_eval(data_dir, annotators=["weighted_alpaca_eval_gpt4_turbo"])
    prompts = sorted({r.prompt for r in records})[:150]
    keep = set(prompts)
    return [r for r in records if r.prompt in keep]


@pytest.fixture(scope="session")
def small_router_path(tmp_path_factory, alpaca_subset) -> Path:
    """A real MF router (MiniLM embeddings) trained on ``alpaca_subset``, saved as a checkpoint."""
    from routellm_core.routers.mf import MFRouter

    path = tmp_path_factory.mktemp("routers") / "mf-small"
    MFRouter(epochs=30, show_progress=False).fit(alpaca_subset).save(path)
    return path


@pytest.fixture(scope="session")
def small_router(small_router_path):
    """The small MF router, loaded through the public API (cached: loaded once per session)."""
    from routellm_core import load_router

    return load_router(str(small_router_path))


@pytest.fixture
def openai_pair():
    """Two real OpenAI-compatible servers on 127.0.0.1: ("strong-model", "weak-model")."""
    from routellm_core.testing import OpenAIStubServer

    with OpenAIStubServer(model="strong-model") as strong, OpenAIStubServer(model="weak-model") as weak:
        yield strong, weak


@pytest.fixture
def word_count_router():
    """A real Router whose P(strong wins) is the prompt's word count / 20 (capped at 1): long,
    multi-part prompts are "hard", so tests know each prompt's side of a threshold. ``calls``
    records every scoring batch."""
    import threading

    import numpy as np

    from routellm_core import Router

    class WordCountRouter(Router):
        name = "words"
        trainable = False

        def __init__(self) -> None:
            self.calls: list[list[str]] = []
            self._lock = threading.Lock()

        def _predict(self, prompts):
            with self._lock:
                self.calls.append(list(prompts))
            return np.array([min(1.0, len(p.split()) / 20) for p in prompts])

    return WordCountRouter()


@pytest.fixture
def routing_events():
    """RouteLLMRoutingEvents seen by a handler on LlamaIndex's root dispatcher during the test."""
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler

    from llamaindex_routellm import RouteLLMRoutingEvent

    class Collector(BaseEventHandler):
        events: list = []

        @classmethod
        def class_name(cls) -> str:
            return "Collector"

        def handle(self, event, **kwargs: Any) -> None:
            if isinstance(event, RouteLLMRoutingEvent):
                self.events.append(event)

    handler = Collector(events=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    try:
        yield handler.events
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not handler]


@pytest.fixture(scope="session")
def graded_answers(data_dir):
    from routellm_core.cascade.records import answer_records

    return answer_records(data_dir)


@pytest.fixture(scope="session")
def feature_scorer(graded_answers):
    """A text-feature scorer (no embeddings) trained on every third graded answer: real data, seconds to fit."""
    from routellm_core.cascade.scorer import AnswerScorer

    return AnswerScorer(use_embeddings=False, l2=16.0).fit(graded_answers[::3])


@pytest.fixture(scope="session")
def drift_stream():
    """A drifting stream for ``word_count_router`` (P = words / 20): 60 short prompts (1-6 words),
    60 long ones (10-19 words), 60 short again, and 50 short calibration prompts like the first part."""
    import random

    rng = random.Random(25)
    vocab = ["apple", "river", "prove", "sum", "list", "graph", "why", "cold", "prime", "code", "tree", "loop"]

    def prompts(n: int, low: int, high: int) -> list[str]:
        return [" ".join(rng.choice(vocab) for _ in range(rng.randint(low, high))) + f" #{i}" for i in range(n)]

    stream = prompts(60, 1, 6) + prompts(60, 10, 19) + prompts(60, 1, 6)
    return {"prompts": stream, "calibration": prompts(50, 1, 6), "fraction": 0.3, "window": 40}



@pytest.fixture(scope="session")
def reroute_attack():
    """benchmarks/reroute_attack.py (the project's attack generator), imported from its file."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "reroute_attack.py"
    spec = importlib.util.spec_from_file_location("reroute_attack", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reroute_gadget(reroute_attack, small_router, data_dir):
    """A 12-word prefix searched against ``small_router`` to raise P(strong wins), and the prompts.

    Returns (gadget words, 8 search prompts, 30 held-out Arena-Hard prompts)."""
    import random

    from routellm_core.data.arena import arena_hard_questions

    prompts = [q.prompt for q in arena_hard_questions(data_dir)]
    random.Random(1).shuffle(prompts)
    search, held_out = prompts[:8], prompts[8:38]
    vocab = reroute_attack.vocabulary(prompts, size=150)
    gadget, _ = reroute_attack.search(small_router.predict_proba, search, vocab, words=12, rounds=1, candidates=8)
    return gadget, search, held_out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on loopback (Debian package redis-server), stopped after the test."""
    pytest.importorskip("redis", reason="the Redis client is not installed (pip install 'routellm-plugin[redis]')")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server) and cannot be started here")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.skip("redis-server did not start")
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.terminate()
        proc.wait(5)


@pytest.fixture(scope="session")
def budget_stream(data_dir, small_router):
    """A drifting stream for the online budget on ``small_router``'s price rule: 100 GSM8K questions,
    100 Arena-Hard prompts, 100 GSM8K questions; calibration on 60 other Arena-Hard prompts; a budget
    between always-cheapest and always-priciest there; ``spends(metas)``: USD per 1,000 calls of every
    ``window`` consecutive decisions (from each decision's metadata, the routed model's estimated cost)."""
    import random

    import numpy as np

    from routellm_core import RoutingPolicy
    from routellm_core.data.arena import arena_hard_questions
    from routellm_core.evaluation.benchmarks import load_gsm8k

    prices = {"gpt-4-1106-preview": (10.0, 30.0), "claude-2": (8.0, 24.0), "mixtral-8x7b-instruct-v0.1": (0.5, 0.5)}
    arena = [q.prompt for q in arena_hard_questions(data_dir)]
    gsm8k = list(load_gsm8k().prompts)
    rng = random.Random(3)
    rng.shuffle(arena)
    rng.shuffle(gsm8k)
    calibration = arena[100:160]
    fixed = RoutingPolicy(small_router, candidates=prices, threshold=0.5)
    costs = np.array([[c.cost_usd for c in d.candidates] for d in fixed.decide(calibration)])
    budget = float(round(1000 * (0.4 * costs.min(axis=1).mean() + 0.6 * costs.max(axis=1).mean()), 2))
    window = 60

    def spends(metas):
        cost = np.array([next(c["cost_usd"] for c in m["candidates"] if c["model"] == m["routed_model"])
                         for m in metas])
        return [1000 * float(cost[i:i + window].mean()) for i in range(len(cost) - window + 1)]

    return {"prompts": gsm8k[:100] + arena[:100] + gsm8k[100:200], "calibration": calibration, "prices": prices,
            "budget": budget, "window": window, "spends": spends}
