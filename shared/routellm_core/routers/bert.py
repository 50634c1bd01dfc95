"""BERT classifier router (RouteLLM paper, section 4.1): a fine-tuned encoder reads the query.

The whole encoder (all-MiniLM-L6-v2 by default, a 6-layer BERT) is fine-tuned as a 3-class
classifier -- strong model wins / tie / weak model wins -- and P(strong wins) is the softmax
probability of the first class, as in RouteLLM (``1 - sum(softmax[-2:])``). RouteLLM's published
checkpoint (``bert_gpt4_augmented``, a plain Hugging Face sequence-classification folder with that
label order) loads as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from . import torch_training as tt
from .hf_classifier import HFClassifierRouter, load_hf

LABELS = {0: "strong_wins", 1: "tie", 2: "weak_wins"}
MINILM_NAMES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class BertRouter(HFClassifierRouter):
    """Fine-tuned BERT-style encoder; ``backbone`` is ``None``/``"minilm"`` or a local Hugging Face encoder folder.

    Prompts longer than ``max_length`` tokens keep their first ``head_tokens`` and their end. The
    defaults (128 tokens, 2 epochs) reached the same validation loss as 256 tokens / 3 epochs on
    5,000 records in about a third of the CPU time (docs/classifier_routers.md).
    Training data: see :func:`torch_training.prompt_targets` (``related_weight=0`` uses only
    records that compare ``strong_model`` with ``weak_model``).
    """

    name = "bert"
    n_labels = 3
    default_lr = 5e-5

    def backbone_dir(self) -> Path:
        """The encoder folder to start from."""
        if self.backbone is None or str(self.backbone).strip().lower() in MINILM_NAMES:
            from ..embeddings.minilm import minilm_model_dir

            return minilm_model_dir()
        folder = Path(str(self.backbone)).expanduser()
        if not (folder / "config.json").is_file():
            raise CheckpointError(f"bert backbone {self.backbone!r} is not a local Hugging Face model folder "
                                  "(no config.json); use 'minilm' or a folder path")
        return folder

    def _load_backbone(self, device: Any) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = self.backbone_dir()
        self.tokenizer_ = load_hf(AutoTokenizer, folder, "tokenizer")
        model = load_hf(AutoModelForSequenceClassification, folder, "encoder", num_labels=self.n_labels,
                        id2label=LABELS, label2id={v: k for k, v in LABELS.items()}, ignore_mismatched_sizes=True)
        model.config.problem_type = "single_label_classification"
        self.model_ = model.float().to(device)

    def _load_trained(self, path: Path, device: Any) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer_ = load_hf(AutoTokenizer, path, "tokenizer")
        model = load_hf(AutoModelForSequenceClassification, path, "classifier")
        n = int(getattr(model.config, "num_labels", 0))
        if n != self.n_labels:
            raise CheckpointError(f"checkpoint {path}: expected a 3-label classifier (strong wins / tie / weak wins), "
                                  f"found {n} labels")
        self.model_ = model.float().to(device).eval()

    @classmethod
    def _params_from_config(cls, config: dict[str, Any], path: Path) -> dict[str, Any]:
        if "router" not in config:  # RouteLLM's format: BERT-base, tokenised up to its 512 positions
            return {"max_length": 512}
        return super()._params_from_config(config, path)

    def _max_tokens(self) -> int:
        limits = [self.max_length]
        positions = getattr(self.model_.config, "max_position_embeddings", None) if self.model_ is not None else None
        if isinstance(positions, int) and positions > 0:
            limits.append(positions - (2 if getattr(self.model_.config, "model_type", "") in {"roberta", "xlm-roberta"}
                                       else 0))
        tok_max = getattr(self.tokenizer_, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
            limits.append(tok_max)
        return min(limits)

    def _encode(self, prompts: list[str]) -> list[list[int]]:
        tok = self.tokenizer_
        ids = tok(prompts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        first = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
        last = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
        budget = self._max_tokens() - (first is not None) - (last is not None)
        return [([first] if first is not None else []) + tt.head_tail(x, budget, self.head_tokens)
                + ([last] if last is not None else []) for x in ids]

    def _label_logprobs(self, batch: dict[str, Any]) -> Any:
        import torch

        logits = self.model_(**batch).logits
        return torch.log_softmax(logits.float(), dim=-1)

    def _strong_probability(self, label_probs: np.ndarray) -> np.ndarray:
        return label_probs[:, 0]
