"""A prompt's probability never depends on the other prompts of its batch, nor on their order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routellm_core.embeddings.minilm import HFEncoderEmbedder, NumpyEncoderEmbedder, OnnxEncoderEmbedder
from routellm_core.routers.mf import MFRouter

# Lengths from 3 to 256+ tokens (the truncation limit), shared prefixes, unicode, near-duplicates.
POOL = [
    "hi", "What is 2 + 2?", "Write a haiku about autumn leaves.", "Write a haiku about autumn leaves!",
    "Prove that there are infinitely many primes.", "Übersetze bitte: 'Der Hund schläft.' 🐕",
    "Explain the difference between TCP and UDP, with an example of when to use each. " * 3,
    "Given the following Python code, find the bug:\n\ndef f(xs):\n    return sum(xs) / len(xs)\n",
    "Summarise the causes of the First World War in three bullet points.",
    "A train leaves at 3pm going 60 mph; another leaves at 4pm going 80 mph. When does the second catch up?",
    "Context: " + "The quick brown fox jumps over the lazy dog. " * 60 + "Question: what did the fox jump over?",
    "写一首关于月亮的诗", "SELECT * FROM users WHERE id = 1; -- explain this query",
]


@pytest.fixture(scope="module", params=["numpy", "onnx"])
def uncached_router(request, small_router_path):
    """The small MF router with an embedder that caches nothing: every call really embeds."""
    cls = {"numpy": NumpyEncoderEmbedder, "onnx": OnnxEncoderEmbedder}[request.param]
    return MFRouter.load(small_router_path, embedder=cls(cache_size=0, batch_size=4))


@pytest.fixture(scope="module")
def alone(uncached_router):
    return {p: float(uncached_router.predict_proba([p])[0]) for p in POOL}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.sampled_from(POOL), min_size=1, max_size=9))
def test_probability_alone_equals_probability_in_any_batch(uncached_router, alone, batch):
    probs = uncached_router.predict_proba(batch)
    for prompt, p in zip(batch, probs):
        assert abs(p - alone[prompt]) <= 1e-6, f"{prompt[:40]!r}: {p} in a batch of {len(batch)} vs {alone[prompt]} alone"


def test_onnx_minilm_matches_the_numpy_pass():
    fast, exact = OnnxEncoderEmbedder(cache_size=0), NumpyEncoderEmbedder(cache_size=0)
    assert fast.model_id == exact.model_id  # same function, so both share cached vectors
    a, b = fast.embed(POOL), exact.embed(POOL)
    assert np.abs(a - b).max() < 1e-5
    assert (a * b).sum(axis=1).min() > 0.99999


def test_numpy_minilm_matches_the_torch_reference():
    pytest.importorskip("torch")
    fast, exact = NumpyEncoderEmbedder(cache_size=0), HFEncoderEmbedder(dtype="float32", cache_size=0)
    assert fast.model_id == exact.model_id  # same function, so both share cached vectors
    assert fast.token_ids(POOL) == [row[row > 0].tolist() for row in exact._tokenize(POOL)["input_ids"]]
    a, b = fast.embed(POOL), exact.embed(POOL)
    assert np.abs(a - b).max() < 1e-5
    assert (a * b).sum(axis=1).min() > 0.99999


@pytest.mark.parametrize("workers", [1, 2])
def test_parallel_scoring_workers_give_each_prompt_its_alone_probability(small_router_path, workers):
    """The server scores on one thread per core: concurrent callers, any split into batches, same floats."""
    import asyncio

    from routellm_core.batching import parallel_safe, score_async, scoring_workers, set_scoring_workers

    router = MFRouter.load(small_router_path, embedder=OnnxEncoderEmbedder(cache_size=0))
    assert parallel_safe(router)
    alone = {p: float(router.predict_proba([p])[0]) for p in POOL}
    before = scoring_workers()
    set_scoring_workers(workers)

    async def crowd() -> list[list[float]]:
        calls = [POOL[i:] + POOL[:i] for i in range(len(POOL))] + [[p] for p in POOL]
        return list(await asyncio.gather(*(score_async(router, c, max_batch=3) for c in calls)))

    try:
        results = asyncio.run(crowd())
    finally:
        set_scoring_workers(before)
    calls = [POOL[i:] + POOL[:i] for i in range(len(POOL))] + [[p] for p in POOL]
    for texts, probs in zip(calls, results, strict=True):
        # ONNX embeds each prompt on its own; MF's projection is one BLAS product over the batch, whose
        # summation order may differ in the last float32 bit (seen with multithreaded BLAS on an idle machine)
        assert np.abs(np.array(probs) - np.array([alone[t] for t in texts])).max() < 1e-6
