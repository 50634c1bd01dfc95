"""BERT classifier router: tiny random-initialised encoders (fast), and one slow run on the real MiniLM."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from routellm_core import load_router  # noqa: E402
from routellm_core.errors import CheckpointError, DataError, InvalidInputError  # noqa: E402
from routellm_core.models import STRONG_MODEL, WEAK_MODEL  # noqa: E402
from routellm_core.records import PreferenceRecord  # noqa: E402
from routellm_core.routers import torch_training as tt  # noqa: E402
from routellm_core.routers.bert import BertRouter  # noqa: E402
from routellm_core.routers.registry import load_checkpoint  # noqa: E402

WORDS = "alpha beta gamma delta river mountain blue green cat dog table chair lamp cloud stone".split()
HARD = ["prove the theorem", "derive the integral", "analyse the proof"]
EASY = ["say hello", "greet my friend", "tell me hi"]


def toy_prompt(i: int, hard: bool, rng: np.random.Generator) -> str:
    return f"{(HARD if hard else EASY)[i % 3]} {' '.join(rng.choice(WORDS, 5))}"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and the CI machine is shared; restore the setting after."""
    before = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROUTELLM_TORCH_THREADS", "1")
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from routellm_core.embeddings.minilm import minilm_model_dir

    return transformers.AutoTokenizer.from_pretrained(str(minilm_model_dir()))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_tokenizer):
    """A 2-layer, 32-wide BERT encoder folder (random weights) with the real MiniLM tokenizer."""
    cfg = transformers.BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    transformers.BertModel(cfg).save_pretrained(str(path))
    minilm_tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def toy_records():
    """Hard prompts: the strong model wins; easy ones: the weak model wins or ties (plus related battles)."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(120):
        hard = i % 2 == 0
        prompt = toy_prompt(i, hard, rng)
        records.append(PreferenceRecord(prompt, STRONG_MODEL, WEAK_MODEL, 1.0 if hard else 0.0))
        records.append(PreferenceRecord(prompt, "claude-2", WEAK_MODEL, 1.0 if hard else 0.5))
    return records


@pytest.fixture(scope="module")
def held_out():
    rng = np.random.default_rng(1)
    prompts = [toy_prompt(i, i % 2 == 0, rng) for i in range(20)]
    return prompts, np.array([i % 2 == 0 for i in range(20)])


def tiny_router(tiny_bert, **kw) -> BertRouter:
    params = dict(backbone=str(tiny_bert), epochs=5, lr=1e-2, warmup_fraction=0.0, batch_size=16, patience=5,
                  max_length=64, show_progress=False)
    params.update(kw)
    return BertRouter(**params)


@pytest.fixture(scope="module")
def fitted(tiny_bert, toy_records):
    return tiny_router(tiny_bert).fit(toy_records)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels], scores[~labels]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_fit_learns_and_loss_falls(fitted, held_out):
    hist = fitted.history_
    assert hist.n_train + hist.n_val == 120 and hist.n_val == 12
    assert min(hist.val_loss[1:]) < hist.val_loss[0] - 0.1
    prompts, labels = held_out
    assert auc(fitted.predict_proba(prompts), labels) > 0.9


def test_early_stopping_restores_best_weights(tiny_bert, toy_records, held_out):
    prompts, _ = held_out
    diverged = tiny_router(tiny_bert, lr=3.0, epochs=4, patience=1).fit(toy_records[:60])
    hist = diverged.history_
    assert len(hist.val_loss) < 5 and hist.best_epoch == 0  # stopped early; no epoch beat the start
    assert diverged.val_loss_ == hist.val_loss[0]
    # the weights kept are the starting ones: same seed, (almost) no training
    untouched = tiny_router(tiny_bert, lr=1e-12, epochs=1).fit(toy_records[:60])
    np.testing.assert_allclose(diverged.predict_proba(prompts), untouched.predict_proba(prompts), atol=1e-5)


def test_predict_proba_shape_and_range(fitted, held_out):
    prompts, _ = held_out
    p = fitted.predict_proba(prompts)
    assert p.shape == (20,) and p.dtype == np.float64
    assert np.all((p >= 0) & (p <= 1))
    labels = fitted.label_probabilities(prompts)
    assert labels.shape == (20, 3)
    np.testing.assert_allclose(labels.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(p, labels[:, 0], atol=1e-7)  # P(strong wins) = softmax[0]
    assert fitted.predict_proba([]).shape == (0,)
    # batching and length sorting must not change a prompt's score
    single = np.array([fitted.predict_proba([q])[0] for q in prompts[:4]])
    np.testing.assert_allclose(single, p[:4], atol=1e-5)
    decision = fitted.route(prompts[0], 0.5)
    assert decision.router == "bert" and decision.role in {"strong", "weak"}


def test_save_load_round_trip(fitted, held_out, tmp_path):
    prompts, _ = held_out
    path = fitted.save(tmp_path / "bert-ckpt")
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pkl", ".pt", ".pth")) for n in names)
    config = json.loads((path / "config.json").read_text())
    assert config["router"] == "bert" and config["router_params"]["max_length"] == 64
    assert config["id2label"] == {"0": "strong_wins", "1": "tie", "2": "weak_wins"}

    loaded = load_router(str(path), cache=False)
    assert isinstance(loaded, BertRouter)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_allclose(loaded.predict_proba(prompts), fitted.predict_proba(prompts), rtol=0, atol=1e-6)
    assert isinstance(load_checkpoint(path), BertRouter)
    # overrides at load time
    assert BertRouter.load(path, inference_batch_size=3).inference_batch_size == 3


def test_routellm_checkpoint_format(tmp_path, minilm_tokenizer):
    """RouteLLM's bert_gpt4_augmented: a HF sequence-classification folder, 3 labels, P(strong) = softmax[0]."""
    cfg = transformers.BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
                                  num_labels=3)
    torch.manual_seed(3)
    model = transformers.BertForSequenceClassification(cfg).eval()
    path = tmp_path / "bert_gpt4_augmented"
    model.save_pretrained(str(path))
    minilm_tokenizer.save_pretrained(str(path))
    assert "router" not in json.loads((path / "config.json").read_text())

    router = load_router(str(path), cache=False)
    assert isinstance(router, BertRouter) and router.max_length == 512
    prompts = ["What is the capital of France?", "Write a proof that there are infinitely many primes."]
    expected = []
    with torch.no_grad():  # RouteLLM's own computation: 1 - sum(softmax[-2:])
        for q in prompts:
            logits = model(**minilm_tokenizer(q, return_tensors="pt", truncation=True)).logits[0].numpy()
            soft = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            expected.append(1 - soft[-2:].sum())
    np.testing.assert_allclose(router.predict_proba(prompts), expected, atol=1e-5)


def test_routellm_format_with_wrong_label_count(tmp_path, minilm_tokenizer):
    cfg = transformers.BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64, num_labels=2)
    path = tmp_path / "two-labels"
    transformers.BertForSequenceClassification(cfg).save_pretrained(str(path))
    minilm_tokenizer.save_pretrained(str(path))
    with pytest.raises(CheckpointError, match="3-label"):
        load_checkpoint(path)


def test_seeded_training_is_deterministic(tiny_bert, toy_records, held_out):
    prompts, _ = held_out
    a = tiny_router(tiny_bert, epochs=1).fit(toy_records[:80]).predict_proba(prompts)
    b = tiny_router(tiny_bert, epochs=1).fit(toy_records[:80]).predict_proba(prompts)
    c = tiny_router(tiny_bert, epochs=1, seed=7).fit(toy_records[:80]).predict_proba(prompts)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_long_prompts_keep_head_and_tail(fitted, minilm_tokenizer):
    body = " ".join(["filler"] * 300)
    prompt = f"instructions first {body} the real question is here"
    ids = fitted._encode([prompt])[0]
    full = minilm_tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert len(ids) == fitted.max_length == 64
    assert ids[0] == minilm_tokenizer.cls_token_id and ids[-1] == minilm_tokenizer.sep_token_id
    assert ids[1:33] == full[:32] and ids[33:-1] == full[-30:]


def test_training_targets_orientation_and_related_records():
    s, w = STRONG_MODEL, WEAK_MODEL
    records = [
        PreferenceRecord("q1", w, s, 0.0),  # strong beats weak (as model_b)
        PreferenceRecord("q1", s, "claude-2", 0.0),  # related: strong loses to another model
        PreferenceRecord("q2", "claude-2", w, 1.0),  # related: another model beats weak -> strong-wins evidence
        PreferenceRecord("q3", "claude-2", "llama-13b", 1.0),  # neither model: ignored
        PreferenceRecord("q4", s, w, 0.9),  # soft judge score -> 80% strong wins, 20% tie
    ]
    t = tt.prompt_targets(records, s, w, 3, related_weight=1.0)
    assert t.prompts == ["q1", "q2", "q4"] and (t.n_pair_records, t.n_related_records) == (2, 2)
    np.testing.assert_allclose(t.targets[0], [0.5, 0.0, 0.5])  # pair (strong wins) mixed 1:1 with related
    np.testing.assert_allclose(t.targets[1], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(t.targets[2], [0.8, 0.2, 0.0])
    only_pair = tt.prompt_targets(records, s, w, 3, related_weight=0.0)
    assert only_pair.prompts == ["q1", "q4"]
    np.testing.assert_allclose(only_pair.targets[0], [1.0, 0.0, 0.0])
    for o in (0.0, 0.3, 0.5, 0.77, 1.0):  # the label's expected value is the outcome
        assert tt.expected_strong_win(tt.soft_label(o, 5)[None])[0] == pytest.approx(o)


def test_device_auto_picks_cuda_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert tt.resolve_device("auto").type == expected
    assert tt.resolve_device("cpu").type == "cpu"
    with pytest.raises(InvalidInputError):
        tt.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="no CUDA"):
            tt.resolve_device("cuda")


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs"), ({"batch_size": -1}, "batch_size"), ({"lr": 0}, "lr"),
    ({"val_fraction": 1.0}, "val_fraction"), ({"related_weight": -1}, "related_weight"),
    ({"max_length": 4}, "max_length"), ({"strong_model": WEAK_MODEL}, "same model"), ({"device": 3}, "device"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        BertRouter(**kwargs)


def test_bad_inputs(tiny_bert, fitted, tmp_path):
    with pytest.raises(DataError, match="no training records"):
        tiny_router(tiny_bert).fit([])
    with pytest.raises(InvalidInputError):
        tiny_router(tiny_bert).fit("not records")
    unrelated = [PreferenceRecord(f"q{i}", "claude-2", "llama-13b", 1.0) for i in range(5)]
    with pytest.raises(DataError, match="compare"):
        tiny_router(tiny_bert).fit(unrelated)
    with pytest.raises(DataError, match="not trained"):
        BertRouter().predict_proba(["hello"])
    with pytest.raises(InvalidInputError, match="single string"):
        fitted.predict_proba("hello")
    with pytest.raises(InvalidInputError, match="empty"):
        fitted.predict_proba(["ok", "  "])
    with pytest.raises(CheckpointError, match="no config.json"):
        BertRouter(backbone=str(tmp_path / "missing"), show_progress=False).fit(
            [PreferenceRecord("a", STRONG_MODEL, WEAK_MODEL, 1.0), PreferenceRecord("b", STRONG_MODEL, WEAK_MODEL, 0.0)])
    with pytest.raises(CheckpointError, match="not found"):
        BertRouter.load(tmp_path / "nope")
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        BertRouter.load(tiny_bert, colour="red")
    with pytest.raises(DataError, match="nothing to save"):
        BertRouter().save(tmp_path / "x")


def test_corrupt_checkpoint(fitted, tmp_path):
    path = fitted.save(tmp_path / "ckpt")
    (path / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        load_router(str(path), cache=False)


@pytest.mark.slow
def test_real_minilm_fine_tune_beats_chance(data_dir):
    """Fine-tune the real all-MiniLM-L6-v2 on ~500 real prompts; held-out AUC must beat chance."""
    from routellm_core.loaders import load_alpaca_eval, load_routerbench

    records = load_alpaca_eval(data_dir, annotators=["weighted_alpaca_eval_gpt4_turbo"]) + load_routerbench(data_dir)
    targets = tt.prompt_targets(records, STRONG_MODEL, WEAK_MODEL, 3, related_weight=1.0)
    order = np.random.default_rng(0).permutation(len(targets.prompts))
    train_prompts = {targets.prompts[i] for i in order[:500]}
    test = targets.subset(order[500:800])
    router = BertRouter(epochs=2, max_length=128, show_progress=False)
    router.fit([r for r in records if r.prompt in train_prompts])
    hist = router.history_
    assert min(hist.val_loss[1:]) < hist.val_loss[0]
    assert hist.train_loss[-1] < hist.train_loss[1] or len(hist.train_loss) == 2
    expected = tt.expected_strong_win(test.targets)
    labels = expected > np.median(expected)
    assert auc(router.predict_proba(test.prompts), labels) > 0.6
