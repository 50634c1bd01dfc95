"""A BERT encoder forward pass in plain numpy (float32), for all-MiniLM-L6-v2 and other small BERTs.

Why: routing one prompt must not cost seconds of ``import torch`` + ``transformers``. MiniLM is
six small layers; numpy runs them in milliseconds, starts in a fraction of a second, and gives the
same vectors as the float32 torch model (cosine >= 0.99999). Each prompt is encoded on its own,
unpadded: its vector never depends on which other prompts share the batch (batch invariance).
Prompts of the same token length are stacked into one 3-D product, which numpy evaluates as one
BLAS call per prompt, so grouping changes speed, not results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import CheckpointError


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, in place, in float32: erf by Abramowitz-Stegun 7.1.26 (abs error <= 1.5e-7).

    numpy has no erf, and scipy's import alone costs a quarter second; in-place float32 passes keep
    this at a few percent of the layer's time.
    """
    z = np.abs(x) * np.float32(0.7071067811865476)
    t = np.float32(0.3275911) * z
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coef in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coef)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # erfc(|x|/sqrt 2)
    # 0.5 x (1 + erf(x/sqrt 2)) = max(x, 0) - 0.5 |x| erfc(|x|/sqrt 2) for either sign of x
    poly *= np.abs(x)
    poly *= np.float32(-0.5)
    poly += np.maximum(x, 0)
    return poly


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The floating-point tensors of a ``.safetensors`` file as copy-on-write memory maps.

    Why not ``safetensors.numpy.load_file``: it holds the file and a copy at once (~2x the model at
    peak), while a map costs only the pages that are read -- an embedding table's unused rows never are.
    """
    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="c", offset=8 + size)
    tensors = {}
    for name, info in header.items():
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"]) if name != "__metadata__" else None
        if dtype is not None:
            start, end = info["data_offsets"]
            tensors[name] = data[start:end].view(dtype).reshape(info["shape"])
    return tensors


class NumpyBert:
    """Weights of a BERT encoder (``config.json`` + ``model.safetensors``) and its forward pass."""

    def __init__(self, model_dir: str | os.PathLike[str]) -> None:
        model_dir = Path(model_dir)
        try:
            config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
            tensors = read_safetensors(model_dir / "model.safetensors")
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read the encoder in {model_dir}: {exc}") from None
        if config.get("model_type") != "bert" or config.get("position_embedding_type", "absolute") != "absolute":
            raise CheckpointError(f"{model_dir} is not a plain BERT encoder (model_type={config.get('model_type')!r})")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""
        t = {k[len(prefix):]: v.astype(np.float32, copy=False) for k, v in tensors.items() if k.startswith(prefix)}
        del tensors
        # Linear weights are stored (in, out) and contiguous, once: numpy multiplies them as they are, and
        # ONNX Runtime uses the same buffers without a copy (onnx_bert); biases and norms stay mapped.
        def dense(name: str) -> tuple[np.ndarray, np.ndarray]:
            return np.ascontiguousarray(t[name + ".weight"].T), t[name + ".bias"]

        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_positions = int(config.get("max_position_embeddings", 512))
        self.word = t["embeddings.word_embeddings.weight"]
        self.position = t["embeddings.position_embeddings.weight"]
        self.token_type0 = t["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([t[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T
            qkv_b = np.concatenate([t[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append({
                "qkv": (np.ascontiguousarray(qkv_w), qkv_b),
                "attn_out": dense(p + "attention.output.dense"),
                "ln1": (t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"]),
                "ffn_in": dense(p + "intermediate.dense"),
                "ffn_out": dense(p + "output.dense"),
                "ln2": (t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"]),
            })

    def mean_pooled(self, ids: np.ndarray) -> np.ndarray:
        """Mean of the last hidden states of ``ids`` (batch, length): same-length, unpadded sequences."""
        return self.hidden_states(ids).mean(axis=1)

    def hidden_states(self, ids: np.ndarray) -> np.ndarray:
        """Last hidden states (batch, length, hidden) of ``ids``: same-length, unpadded sequences."""
        b, n = ids.shape
        x = self.word[ids] + self.position[:n] + self.token_type0
        x = _layer_norm(x, *self.emb_ln, self.eps)
        h, d = self.heads, self.hidden // self.heads
        scale = np.float32(1.0 / np.sqrt(d))
        for layer in self.layers:
            w, bias = layer["qkv"]
            qkv = (x @ w + bias).reshape(b, n, 3, h, d).transpose(2, 0, 3, 1, 4)  # (3, b, h, n, d)
            scores = (qkv[0] * scale) @ qkv[1].transpose(0, 1, 3, 2)  # (b, h, n, n)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b, n, self.hidden)
            w, bias = layer["attn_out"]
            x = _layer_norm(ctx @ w + bias + x, *layer["ln1"], self.eps)
            w, bias = layer["ffn_in"]
            inner = _gelu(x @ w + bias)
            w, bias = layer["ffn_out"]
            x = _layer_norm(inner @ w + bias + x, *layer["ln2"], self.eps)
        return x
