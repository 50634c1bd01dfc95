"""Matrix factorisation router (RouteLLM paper, section 4.1).

Each model m has a learned vector v_m; the prompt embedding e(q) is projected to the same space;
the model's score on q is ``s(m, q) = w . (normalize(v_m) * (W e(q)))`` and
P(a beats b | q) = sigmoid(s(a, q) - s(b, q)). Any number of models; the strong/weak pair is
picked at inference. Training needs torch; inference is plain numpy.

An own router (``routellm-core train --init mf``) may carry a :class:`~.neighbours.NeighbourMemory`
(``neighbours_``): its labelled prompts, whose nearest-neighbour outcomes are blended into P for its
strong/weak pair only, with the weight that cross-validation on those labels chose.

``prompt_weight`` (alpha) shrinks each score toward the model's mean score over the training
prompts, ``s_mean(m) + alpha * (s(m, q) - s_mean(m))``: 1 is the paper's MF, 0 a prompt-blind
ranking of model strengths. Where the prompt predicts little (real Arena prompts), a full-weight
prompt term adds noise that can rank a weaker model above a stronger one; ``"validation"`` picks
alpha on the held-out validation prompts by log-loss. For a strong/weak pair any alpha > 0 is a
monotone change of P, so calibrated thresholds route the same prompts; it matters for raw
thresholds and for routing among many models.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..embeddings import Embedder
from ..errors import CheckpointError, DataError, InvalidInputError
from ..models import STRONG_MODEL, WEAK_MODEL
from ..records import PreferenceRecord
from .base import StrongWeakPair
from .checkpoint import read_config, read_tensors, require_keys, write_checkpoint
from .embedding_router import EmbeddingRouter

if TYPE_CHECKING:
    from .neighbours import NeighbourMemory

# The tensors of an own router's neighbour memory (see .neighbours.NeighbourMemory.tensors).
NEIGHBOUR_TENSORS = ("neighbour_vectors", "neighbour_targets", "neighbour_weights")

# Model ids of RouteLLM's published MF checkpoints (mf_gpt4_augmented), in id order.
ROUTELLM_MF_MODELS = [
    "RWKV-4-Raven-14B", "alpaca-13b", "chatglm-6b", "chatglm2-6b", "chatglm3-6b", "claude-1", "claude-2.0",
    "claude-2.1", "claude-instant-1", "codellama-34b-instruct", "deepseek-llm-67b-chat", "dolly-v2-12b",
    "dolphin-2.2.1-mistral-7b", "falcon-180b-chat", "fastchat-t5-3b", "gemini-pro", "gemini-pro-dev-api",
    "gpt-3.5-turbo-0125", "gpt-3.5-turbo-0314", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-1106", "gpt-4-0125-preview",
    "gpt-4-0314", "gpt-4-0613", "gpt-4-1106-preview", "gpt4all-13b-snoozy", "guanaco-33b", "koala-13b", "llama-13b",
    "llama-2-13b-chat", "llama-2-70b-chat", "llama-2-7b-chat", "llama2-70b-steerlm-chat", "mistral-7b-instruct",
    "mistral-7b-instruct-v0.2", "mistral-medium", "mixtral-8x7b-instruct-v0.1", "mpt-30b-chat", "mpt-7b-chat",
    "nous-hermes-2-mixtral-8x7b-dpo", "oasst-pythia-12b", "openchat-3.5", "openchat-3.5-0106",
    "openhermes-2.5-mistral-7b", "palm-2", "pplx-70b-online", "pplx-7b-online", "qwen-14b-chat", "qwen1.5-4b-chat",
    "qwen1.5-72b-chat", "qwen1.5-7b-chat", "solar-10.7b-instruct-v1.0", "stablelm-tuned-alpha-7b",
    "starling-lm-7b-alpha", "stripedhyena-nous-7b", "tulu-2-dpo-70b", "vicuna-13b", "vicuna-33b", "vicuna-7b",
    "wizardlm-13b", "wizardlm-70b", "yi-34b-chat", "zephyr-7b-alpha", "zephyr-7b-beta",
]


# Candidate prompt weights for ``prompt_weight="validation"``.
PROMPT_WEIGHT_GRID: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


class MFRouter(StrongWeakPair, EmbeddingRouter):
    name = "mf"
    unsaved_params = ("show_progress",)
    param_attributes = {"embedder": "embedder_spec"}
    neighbours_: NeighbourMemory | None = None  # an own router's labelled prompts (see the module docstring)

    def __init__(self, embedder: str | Embedder = "minilm", strong_model: str = STRONG_MODEL,
                 weak_model: str = WEAK_MODEL, dim: int = 128, epochs: int = 40, batch_size: int = 2048,
                 lr: float = 3e-3, weight_decay: float = 1e-5, tie_weight: float = 0.5, val_fraction: float = 0.1,
                 patience: int = 5, seed: int = 0, show_progress: bool = True,
                 prompt_weight: float | str = 1.0) -> None:
        super().__init__(embedder, strong_model, weak_model, show_progress)
        self.prompt_weight = _check_prompt_weight(prompt_weight)
        self.dim, self.epochs, self.batch_size = int(dim), int(epochs), int(batch_size)
        self.lr, self.weight_decay, self.tie_weight = float(lr), float(weight_decay), float(tie_weight)
        self.val_fraction, self.patience, self.seed = float(val_fraction), int(patience), int(seed)


    # --- training -------------------------------------------------------------------------------
    def fit(self, records: Sequence[PreferenceRecord]) -> MFRouter:
        import torch

        from ..progress import progress

        prompts, models, rows = self._index_records(records)
        text = self._embed(prompts, progress=self.show_progress)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        # Validation split by prompt, so early stopping measures generalisation to new queries.
        n_val = int(len(prompts) * self.val_fraction)
        val_prompts = set(rng.permutation(len(prompts))[:n_val].tolist())
        is_val = np.array([int(p) in val_prompts for p in rows[:, 0]])
        p_idx = torch.as_tensor(rows[:, 0], dtype=torch.long)
        a_idx = torch.as_tensor(rows[:, 1], dtype=torch.long)
        b_idx = torch.as_tensor(rows[:, 2], dtype=torch.long)
        target = torch.as_tensor(rows[:, 3], dtype=torch.float32)
        tie = (target - 0.5).abs() <= 0.1
        weight = torch.as_tensor(rows[:, 4], dtype=torch.float32) * torch.where(tie, self.tie_weight, 1.0)
        text_t = torch.as_tensor(text)
        model_vecs = torch.nn.Parameter(torch.randn(len(models), self.dim) * 0.1)
        proj = torch.nn.Parameter(torch.randn(self.dim, text.shape[1]) / np.sqrt(text.shape[1]))
        classifier = torch.nn.Parameter(torch.randn(self.dim) / np.sqrt(self.dim))
        params = [model_vecs, proj, classifier]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

        def loss_on(index: torch.Tensor) -> torch.Tensor:
            q = text_t[p_idx[index]] @ proj.T
            mv = torch.nn.functional.normalize(model_vecs, dim=1)
            logit = ((mv[a_idx[index]] - mv[b_idx[index]]) * q) @ classifier
            losses = torch.nn.functional.binary_cross_entropy_with_logits(logit, target[index], reduction="none")
            return (losses * weight[index]).sum() / weight[index].sum().clamp(min=1e-9)

        train_idx = torch.as_tensor(np.flatnonzero(~is_val))
        val_idx = torch.as_tensor(np.flatnonzero(is_val))
        best, best_state, bad = float("inf"), None, 0
        self.history_ = []
        bar = progress(range(self.epochs), desc="training mf", unit="epoch", disable=not self.show_progress)
        for _ in bar:
            order = train_idx[torch.randperm(len(train_idx))]
            for start in range(0, len(order), self.batch_size):
                opt.zero_grad()
                loss = loss_on(order[start : start + self.batch_size])
                loss.backward()
                opt.step()
            with torch.no_grad():
                val = float(loss_on(val_idx if len(val_idx) else train_idx))
            self.history_.append(val)
            bar.set_postfix(val_loss=f"{val:.4f}")
            if val < best - 1e-5:
                best, bad = val, 0
                best_state = [p.detach().clone() for p in params]
            else:
                bad += 1
                if bad >= self.patience:
                    break
        bar.close()  # early stopping leaves the loop: end the bar (its end line) now, not at garbage collection
        assert best_state is not None
        self.models_ = models
        self.model_vectors_ = best_state[0].numpy().astype(np.float32)
        self.projection_ = best_state[1].numpy().astype(np.float32)
        self.classifier_ = best_state[2].numpy().astype(np.float32)
        self.val_loss_ = best
        raw = self._raw_scores(text)
        self.score_means_ = raw.mean(axis=0).astype(np.float32)
        self.prompt_weight_ = (self._fit_prompt_weight(raw, rows[is_val]) if self.prompt_weight == "validation"
                               else float(self.prompt_weight))
        self._check_pair()
        return self

    def _fit_prompt_weight(self, raw: np.ndarray, rows: np.ndarray) -> float:
        """The alpha of PROMPT_WEIGHT_GRID with the least weighted log-loss on the validation records."""
        if not len(rows):
            return 1.0
        p, a, b = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2].astype(int)
        target = rows[:, 3]
        weight = rows[:, 4] * np.where(np.abs(target - 0.5) <= 0.1, self.tie_weight, 1.0)
        blind = self.score_means_[a] - self.score_means_[b]
        full = raw[p, a] - raw[p, b]
        losses = []
        for alpha in PROMPT_WEIGHT_GRID:
            logit = blind + alpha * (full - blind)
            # BCE with logits, stable: max(z, 0) - z * y + log(1 + exp(-|z|))
            loss = np.maximum(logit, 0) - logit * target + np.log1p(np.exp(-np.abs(logit)))
            losses.append(float((loss * weight).sum() / max(weight.sum(), 1e-12)))
        self.prompt_weight_losses_ = dict(zip(PROMPT_WEIGHT_GRID, losses, strict=True))
        return float(PROMPT_WEIGHT_GRID[int(np.argmin(losses))])

    def _check_pair(self) -> None:
        self._model_index(self.strong_model, self.models_)
        self._model_index(self.weak_model, self.models_)

    # --- inference ------------------------------------------------------------------------------
    def _raw_scores(self, text: np.ndarray) -> np.ndarray:
        """The paper's s(m, q) from prompt embeddings (no prompt weight)."""
        q = text @ self.projection_.T
        mv = self.model_vectors_ / np.maximum(np.linalg.norm(self.model_vectors_, axis=1, keepdims=True), 1e-12)
        return (q[:, None, :] * mv[None, :, :]) @ self.classifier_

    def _weighted(self, raw: np.ndarray) -> np.ndarray:
        alpha = getattr(self, "prompt_weight_", 1.0)
        if alpha == 1.0:
            return raw
        return self.score_means_ + alpha * (raw - self.score_means_)

    def scores(self, prompts: Sequence[str]) -> np.ndarray:
        """s(m, q) for every model m (columns, in ``models_`` order) and prompt q (rows), prompt weight applied."""
        return self._weighted(self._raw_scores(self._embed(prompts)))

    def _predict(self, prompts: list[str]) -> np.ndarray:
        return self.win_probabilities(prompts, self.strong_model, [self.weak_model])[:, 0]

    def win_probabilities(self, prompts: Sequence[str], reference: str, models: Sequence[str]) -> np.ndarray:
        """P(``reference`` beats m | q) for each prompt q (rows) and model m (columns).

        The strong/weak probability is the one-column case, computed by the same expression, so
        multi-model routing over a strong/weak pair decides exactly as the threshold rule does.
        """
        return self.pairwise_probabilities(prompts, [reference, *models])[:, 0, 1:]

    def pairwise_probabilities(self, prompts: Sequence[str], models: Sequence[str]) -> np.ndarray:
        """P(model a beats model b | q), shaped (prompts, models, models); the diagonal is 0.5."""
        if not hasattr(self, "model_vectors_"):
            raise DataError("mf router is not trained: call fit() or load a checkpoint")
        idx = [self._model_index(m, self.models_) for m in models]
        text = self._embed(list(prompts))
        q = text @ self.projection_.T
        alpha = getattr(self, "prompt_weight_", 1.0)
        memory = self.neighbours_
        out = np.full((q.shape[0], len(idx), len(idx)), 0.5, dtype=np.float64)
        for a, b in itertools.combinations(range(len(idx)), 2):
            mv = self.model_vectors_[[idx[a], idx[b]]]
            mv = mv / np.maximum(np.linalg.norm(mv, axis=1, keepdims=True), 1e-12)
            diff = (q * (mv[0] - mv[1])) @ self.classifier_
            if alpha != 1.0:
                blind = float(self.score_means_[idx[a]] - self.score_means_[idx[b]])
                diff = blind + alpha * (diff - blind)
            p = 1.0 / (1.0 + np.exp(-diff))
            if memory is not None and memory.blend > 0:
                if (self.models_[idx[a]], self.models_[idx[b]]) == (memory.strong, memory.weak):
                    p = memory.mix(p, text)
                elif (self.models_[idx[b]], self.models_[idx[a]]) == (memory.strong, memory.weak):
                    p = 1.0 - memory.mix(1.0 - p, text)
            out[:, a, b] = p
            out[:, b, a] = 1.0 - p
        return out

    # --- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        config = {"router": self.name, **self.get_params(), "models": self.models_,
                  "fitted_prompt_weight": getattr(self, "prompt_weight_", 1.0)}
        tensors = {"model_vectors": self.model_vectors_, "projection": self.projection_, "classifier": self.classifier_}
        if hasattr(self, "score_means_"):
            tensors["score_means"] = self.score_means_
        memory = self.neighbours_
        if memory is not None:
            config.update(memory.config())
            tensors.update(memory.tensors())
        return write_checkpoint(path, config, tensors)

    @classmethod
    def load(cls, path: str | Path, embedder: str | Embedder | None = None, **overrides) -> MFRouter:
        config = read_config(path)
        if "router" not in config and {"dim", "num_models"} <= set(config):
            return cls.load_routellm(path, embedder=embedder, **overrides)
        require_keys(config, ["models", "embedder"], path)
        memory_names = list(NEIGHBOUR_TENSORS) if "neighbour_k" in config else []
        tensors = read_tensors(path, ["model_vectors", "projection", "classifier", *memory_names])
        params = {k: v for k, v in config.items() if k in cls().get_params() and k != "embedder"}
        params.update(overrides)
        router = cls(embedder=embedder or config["embedder"], **params)
        router.models_ = list(config["models"])
        router.model_vectors_ = tensors["model_vectors"]
        router.projection_ = tensors["projection"]
        router.classifier_ = tensors["classifier"].reshape(-1)
        router.prompt_weight_ = float(_check_prompt_weight(config.get("fitted_prompt_weight", 1.0), path))
        if "score_means" in tensors:
            router.score_means_ = tensors["score_means"].reshape(-1)
        elif router.prompt_weight_ != 1.0:
            raise CheckpointError(f"checkpoint {path}: prompt weight {router.prompt_weight_} needs tensor score_means")
        _check_shapes(router, path)
        router._check_pair()
        if "neighbour_k" in config:
            router.neighbours_ = _load_neighbours(router, config, tensors, path)
        return router

    @classmethod
    def load_routellm(cls, path: str | Path, embedder: str | Embedder | None = None, **overrides) -> MFRouter:
        """Load RouteLLM's published MF format (``mf_gpt4_augmented``: config.json + model.safetensors).

        Its config holds ``dim``, ``num_models``, ``text_dim``, ``use_proj``; tensors ``P.weight``,
        ``text_proj.0.weight``, ``classifier.0.weight``. Prompts are embedded with OpenAI's
        ``text-embedding-3-small`` as in the original unless another embedder is given.
        """
        config = read_config(path)
        require_keys(config, ["dim", "num_models"], path)
        names = ["P.weight", "classifier.0.weight"] + (["text_proj.0.weight"] if config.get("use_proj", True) else [])
        tensors = read_tensors(path, names)
        router = cls(embedder=embedder or "openai:text-embedding-3-small", dim=int(config["dim"]), **overrides)
        n = int(config["num_models"])
        router.models_ = [m.lower() for m in ROUTELLM_MF_MODELS[:n]] if n <= len(ROUTELLM_MF_MODELS) else [f"model-{i}" for i in range(n)]
        router.models_ = [_routellm_name(m) for m in router.models_]
        router.model_vectors_ = tensors["P.weight"].astype(np.float32)
        router.projection_ = (tensors["text_proj.0.weight"] if config.get("use_proj", True)
                              else np.eye(int(config["dim"]), dtype=np.float32)).astype(np.float32)
        router.classifier_ = tensors["classifier.0.weight"].reshape(-1).astype(np.float32)
        _check_shapes(router, path)
        router._check_pair()
        return router


def _check_prompt_weight(value: float | str, path: object = None) -> float | str:
    """A prompt weight in [0, 1], or "validation"; anything else names the problem."""
    where = f"checkpoint {path}: " if path is not None else ""
    if isinstance(value, str) and value == "validation":
        if path is not None:
            raise CheckpointError(f"{where}fitted_prompt_weight must be a number, not 'validation'")
        return value
    try:
        alpha = float(value)
    except (TypeError, ValueError):
        alpha = float("nan")
    if isinstance(value, bool) or not 0.0 <= alpha <= 1.0:
        message = f"{where}prompt_weight must be a number in [0, 1] or 'validation', not {value!r}"
        raise CheckpointError(message) if path is not None else InvalidInputError(message)
    return alpha


def _load_neighbours(router: MFRouter, config: dict, tensors: dict, path):
    """The checkpoint's neighbour memory; its vectors are prompt embeddings (the projection's input size)."""
    from .neighbours import NeighbourMemory

    memory = NeighbourMemory.from_checkpoint(config, tensors, router.projection_.shape[1], path)
    for model in (memory.strong, memory.weak):
        if model not in router.models_:
            raise CheckpointError(f"checkpoint {path}: neighbour_pair names {model!r}, not one of its models")
    return memory


def _routellm_name(name: str) -> str:
    from ..models import canonical_model_name

    return canonical_model_name(name)


def _check_shapes(router: MFRouter, path) -> None:
    m, d = router.model_vectors_.shape
    means = getattr(router, "score_means_", np.zeros(m))
    if (m != len(router.models_) or router.projection_.shape[0] != d or router.classifier_.shape[0] != d
            or means.shape != (m,)):
        raise CheckpointError(
            f"checkpoint {path}: tensor shapes do not match (model vectors {router.model_vectors_.shape}, "
            f"projection {router.projection_.shape}, classifier {router.classifier_.shape}, {len(router.models_)} models)"
        )
