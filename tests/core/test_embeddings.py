"""The local MiniLM embedder: real model, truncation, caches."""

from __future__ import annotations

import numpy as np
import pytest

from routellm_core import InvalidInputError
from routellm_core.embeddings import CallableEmbedder, get_embedder
from routellm_core.embeddings.minilm import HFEncoderEmbedder


@pytest.fixture(scope="module")
def minilm():
    return get_embedder("minilm")


def test_semantic_similarity(minilm):
    v = minilm.embed(["How do I bake bread?", "What is a good bread recipe?", "Prove Fermat's last theorem."])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_long_text_is_truncated_keeping_the_end(minilm):
    prefix = "Example question about chemistry and its answer. " * 200
    a = minilm.embed([prefix + "What is the capital of France?", prefix + "Write a sorting algorithm in Rust."])
    assert a.shape == (2, 384)
    assert a[0] @ a[1] < 0.99  # the distinct endings still distinguish the texts


def test_matches_sentence_transformers_on_short_text(minilm):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from routellm_core.embeddings.minilm import minilm_model_dir

    reference = sentence_transformers.SentenceTransformer(str(minilm_model_dir()), device="cpu")
    text = "Routing queries between a strong and a weak model."
    ours = minilm.embed([text])[0]
    theirs = reference.encode([text], normalize_embeddings=True)[0]
    assert float(ours @ theirs) > 0.999


def test_lru_and_disk_cache(tmp_path):
    calls = []

    def fn(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0, 0.0] for t in texts])

    emb = CallableEmbedder(fn, model_id="len", cache_size=2, disk_cache_dir=tmp_path)
    emb.disk_min_batch = 1
    first = emb.embed(["a", "bb", "a"])
    assert calls == [["a", "bb"]]
    assert np.allclose(first[0], first[2])
    emb.embed(["bb"])
    assert len(calls) == 1  # LRU hit
    fresh = CallableEmbedder(fn, model_id="len", disk_cache_dir=tmp_path)
    fresh.disk_min_batch = 1
    assert np.allclose(fresh.embed(["a", "bb"]), first[:2])
    assert len(calls) == 1  # served from the disk cache
    assert not list(tmp_path.rglob("*.pkl"))


def test_embed_rejects_single_string(minilm):
    with pytest.raises(InvalidInputError, match="list of texts"):
        minilm.embed("just a string")


def test_missing_model_folder(tmp_path):
    from routellm_core import CheckpointError

    with pytest.raises(CheckpointError, match="config.json missing"):
        HFEncoderEmbedder(tmp_path).embed(["x"])


def test_bfloat16_embeddings_match_float32(monkeypatch):
    from routellm_core.embeddings.minilm import resolve_dtype

    texts = ["How do I bake bread?", "Prove that there are infinitely many primes. " * 30]
    full = HFEncoderEmbedder(dtype="float32").embed(texts)
    half = HFEncoderEmbedder(dtype="bfloat16")
    assert half.model_id.endswith(":bfloat16")  # separate cache keys for the two precisions
    assert np.all(np.sum(full * half.embed(texts), axis=1) > 0.999)
    monkeypatch.setenv("ROUTELLM_EMBEDDING_DTYPE", "float32")
    assert resolve_dtype("auto", "cpu") == "float32"
    monkeypatch.setenv("ROUTELLM_EMBEDDING_DTYPE", "float16")
    with pytest.raises(InvalidInputError, match="float16"):
        resolve_dtype("auto", "cpu")


def test_lru_is_safe_under_concurrent_use():
    """Servers embed from several threads; the shared LRU must neither break nor mix up vectors."""
    from concurrent.futures import ThreadPoolExecutor

    def fake(texts):  # deterministic vector per text
        return np.array([[len(t), sum(map(ord, t)) % 97 + 1, 1.0] for t in texts])

    emb = CallableEmbedder(fake, cache_size=8)  # tiny cache: constant evictions
    texts = [f"prompt number {i}" for i in range(40)]
    expected = {t: v for t, v in zip(texts, emb.embed(texts))}

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(200):
            batch = [texts[i] for i in rng.choice(40, 3)]
            for t, v in zip(batch, emb.embed(batch)):
                assert np.allclose(v, expected[t])
        return True

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))
    assert len(emb._lru) <= 8
