"""Common base of the fine-tuned Hugging Face routers (``bert``, ``causal_llm``).

A subclass says how to load a backbone, turn prompts into token ids, and get label
log-probabilities from a batch; this class does the rest: training targets, the training loop,
batched scoring, and checkpoints. A checkpoint is a Hugging Face model folder
(``config.json`` + ``model.safetensors`` + tokenizer JSON files) whose ``config.json`` also holds
``"router"`` and ``"router_params"``, so ``load_checkpoint`` knows the class and the folder still
loads with plain ``transformers``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import CheckpointError, DataError, InvalidInputError
from ..models import STRONG_MODEL, WEAK_MODEL, canonical_model_name
from ..records import PreferenceRecord
from . import torch_training as tt
from .base import Router
from .checkpoint import FORMAT_VERSION, read_config

log = logging.getLogger(__name__)


class HFClassifierRouter(Router):
    """A router that fine-tunes a Hugging Face model to predict one of ``n_labels`` ordered outcomes.

    Label 0 means "strong model wins", the last label "weak model wins" (see
    :func:`torch_training.soft_label`).
    """

    n_labels: ClassVar[int] = 3
    default_lr: ClassVar[float] = 5e-5

    def __init__(self, backbone: str | None = None, strong_model: str = STRONG_MODEL, weak_model: str = WEAK_MODEL,
                 max_length: int = 128, head_tokens: int = 32, epochs: int = 2, batch_size: int = 16,
                 lr: float | None = None, weight_decay: float = 0.01, warmup_fraction: float = 0.1,
                 val_fraction: float = 0.1, patience: int = 1, related_weight: float = 1.0,
                 max_samples: int | None = None, seed: int = 0, device: str = "auto", inference_batch_size: int = 32,
                 show_progress: bool = True) -> None:
        self.backbone = backbone
        self.strong_model = canonical_model_name(strong_model)
        self.weak_model = canonical_model_name(weak_model)
        if self.strong_model == self.weak_model:
            raise InvalidInputError(f"strong_model and weak_model are the same model ({self.strong_model!r})")
        self.max_length = tt.check_positive_int("max_length", max_length, 8)
        self.head_tokens = tt.check_positive_int("head_tokens", head_tokens, 0)
        self.epochs = tt.check_positive_int("epochs", epochs)
        self.batch_size = tt.check_positive_int("batch_size", batch_size)
        self.lr = tt.check_positive_float("lr", self.default_lr if lr is None else lr)
        self.weight_decay = tt.check_positive_float("weight_decay", weight_decay, allow_zero=True)
        self.warmup_fraction = tt.check_fraction("warmup_fraction", warmup_fraction)
        self.val_fraction = tt.check_fraction("val_fraction", val_fraction)
        self.patience = tt.check_positive_int("patience", patience)
        self.related_weight = tt.check_positive_float("related_weight", related_weight, allow_zero=True)
        self.max_samples = None if max_samples is None else tt.check_positive_int("max_samples", max_samples, 2)
        self.seed = tt.check_positive_int("seed", seed, 0)
        if not isinstance(device, str):
            raise InvalidInputError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
        self.device = device
        self.inference_batch_size = tt.check_positive_int("inference_batch_size", inference_batch_size)
        self.show_progress = bool(show_progress)
        self.model_: Any = None
        self.tokenizer_: Any = None


    # --- hooks for subclasses ------------------------------------------------------------------
    def _load_backbone(self, device: Any) -> None:
        """Set ``model_`` and ``tokenizer_`` from ``backbone``, ready to fine-tune on ``device``."""
        raise NotImplementedError

    def _load_trained(self, path: Path, device: Any) -> None:
        """Set ``model_`` and ``tokenizer_`` from a saved checkpoint folder."""
        raise NotImplementedError

    def _encode(self, prompts: list[str]) -> list[list[int]]:
        """Token ids (special tokens included, at most ``max_length``) for each prompt."""
        raise NotImplementedError

    def _label_logprobs(self, batch: dict[str, Any]) -> Any:
        """(batch, n_labels) log-probabilities of the labels for a padded batch (a torch tensor)."""
        raise NotImplementedError

    def _strong_probability(self, label_probs: np.ndarray) -> np.ndarray:
        """P(strong wins) from (n, n_labels) label probabilities normalised over the labels."""
        raise NotImplementedError

    # --- training ------------------------------------------------------------------------------
    def fit(self, records: Sequence[PreferenceRecord]) -> HFClassifierRouter:
        """Fine-tune the backbone on ``records``; keeps the epoch with the lowest validation loss."""
        import torch

        targets = tt.prompt_targets(records, self.strong_model, self.weak_model, self.n_labels, self.related_weight)
        targets = tt.subsample(targets, self.max_samples, self.seed)
        if len(targets.prompts) < 2:
            raise DataError(f"need at least 2 distinct training prompts for {self.name}, got {len(targets.prompts)}")
        device = tt.resolve_device(self.device)
        threads = tt.set_threads()
        log.info("training %s on %d prompts (%d records of the pair, %d related) on %s, %d torch threads",
                 self.name, len(targets.prompts), targets.n_pair_records, targets.n_related_records, device, threads)
        with tt.deterministic(self.seed):
            self._load_backbone(device)
            try:
                ids = self._encode(targets.prompts)
            except BaseException:
                self.model_ = None
                raise
            target_t = torch.as_tensor(targets.targets, dtype=torch.float32)
            weight_t = torch.as_tensor(targets.weights, dtype=torch.float32)
            pad = self._pad_id()

            def batch_loss(index: np.ndarray, train: bool):
                batch = tt.pad_batch([ids[i] for i in index], pad, device)
                logp = self._label_logprobs(batch).float()
                t, w = target_t[index].to(device), weight_t[index].to(device)
                per_example = -(t * logp).sum(-1)
                return (per_example * w).sum(), w.sum()

            cfg = tt.TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                                 weight_decay=self.weight_decay, warmup_fraction=self.warmup_fraction,
                                 val_fraction=self.val_fraction, patience=self.patience, seed=self.seed,
                                 show_progress=self.show_progress, desc=f"training {self.name}")
            try:
                self.history_ = tt.train_loop(self.model_, batch_loss, [len(x) for x in ids], cfg)
            except BaseException:
                self.model_ = None  # never leave a half-trained model behind a failed fit
                raise
        self.n_train_prompts_ = len(targets.prompts)
        self.val_loss_ = min(self.history_.val_loss)
        return self

    def _pad_id(self) -> int:
        tok = self.tokenizer_
        for candidate in (tok.pad_token_id, tok.eos_token_id, 0):
            if candidate is not None:
                return int(candidate)
        return 0

    # --- inference -----------------------------------------------------------------------------
    def label_probabilities(self, prompts: Sequence[str]) -> np.ndarray:
        """(n, n_labels) probabilities of each outcome label, normalised over the labels."""
        import torch

        prompts = list(prompts)
        if self.model_ is None:
            raise DataError(f"{self.name} router is not trained: call fit() or load a checkpoint")
        ids = self._encode(prompts)
        device = next(self.model_.parameters()).device
        pad = self._pad_id()
        self.model_.eval()

        def score(index: np.ndarray) -> np.ndarray:
            batch = tt.pad_batch([ids[i] for i in index], pad, device)
            return torch.softmax(self._label_logprobs(batch).float(), dim=-1).cpu().numpy()

        return tt.batched_inference(score, [len(x) for x in ids], self.inference_batch_size,
                                    show_progress=self.show_progress and len(prompts) > 10 * self.inference_batch_size,
                                    desc=f"scoring with {self.name}")

    def _predict(self, prompts: list[str]) -> np.ndarray:
        return self._strong_probability(self.label_probabilities(prompts))

    # --- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """A Hugging Face folder (safetensors + tokenizer) whose config.json also names this router."""
        if self.model_ is None:
            raise DataError(f"{self.name} router is not trained: nothing to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with tt.quiet_transformers():
            self.model_.save_pretrained(str(path))
            self.tokenizer_.save_pretrained(str(path))
        cfg_file = path / "config.json"
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
        # The device is not saved: a router trained on a GPU must load on a CPU-only machine (device="auto").
        params = {k: v for k, v in self.get_params().items() if k != "device"}
        config.update({"router": self.name, "router_params": params, "format_version": FORMAT_VERSION})
        cfg_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def _params_from_config(cls, config: dict[str, Any], path: Path) -> dict[str, Any]:
        name = config.get("router")
        if name is not None and name != cls.name:
            raise CheckpointError(f"checkpoint {path} is a {name!r} router, not {cls.name!r}")
        params = config.get("router_params") or {}
        if not isinstance(params, dict):
            raise CheckpointError(f"checkpoint {path}: router_params in config.json must be an object")
        known = set(cls.param_names())
        return {k: v for k, v in params.items() if k in known}

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> HFClassifierRouter:
        """Load a checkpoint written by :meth:`save`; ``overrides`` replace saved parameters (e.g. ``device``)."""
        path = Path(path)
        config = read_config(path)
        params = cls._params_from_config(config, path)
        unknown = sorted(set(overrides) - set(cls.param_names()))
        if unknown:
            raise InvalidInputError(f"unknown parameter(s) for {cls.name} router: {', '.join(unknown)}")
        params.update(overrides)
        router = cls(**params)
        device = tt.resolve_device(router.device)
        tt.set_threads()
        router._load_trained(path, device)
        router.model_.eval()
        return router

    def __repr__(self) -> str:
        trained = "" if self.model_ is not None else ", untrained"
        return f"{type(self).__name__}(backbone={self.backbone!r}, strong_model={self.strong_model!r}, " \
               f"weak_model={self.weak_model!r}{trained})"




def load_hf(loader: Any, folder: Path, what: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(folder)`` with transformers' errors turned into a CheckpointError."""
    with tt.quiet_transformers():
        try:
            return loader.from_pretrained(str(folder), **kwargs)
        except Exception as exc:  # transformers/safetensors/tokenizers raise many types for bad or missing files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise CheckpointError(f"cannot load the {what} from {folder}: {type(exc).__name__}: {first}") from None
