"""The same BERT forward pass as :mod:`numpy_bert`, as an ONNX graph run by ONNX Runtime (float32).

Why: ONNX Runtime's fused float32 kernels run MiniLM 2-3x faster than numpy on one short prompt,
and it starts without torch or transformers. The graph is built here, in memory, from the same
safetensors weights (no torch, no download; ``onnx`` only assembles the protobuf) and exported once
into the cache, where ONNX Runtime maps the weights file instead of copying it.
Inputs are one batch of same-length, unpadded sequences, exactly like :class:`NumpyBert`, so a
prompt's vector does not depend on its neighbours.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .numpy_bert import NumpyBert

OPSET = 17  # LayerNormalization is in the default domain from opset 17
GRAPH_VERSION = 1  # bump when the graph changes: exported files are keyed by it
_ALIGN = 65536  # ONNX Runtime maps external data in place when offsets are multiples of the allocation granularity


def build_bert_graph(bert: NumpyBert, weights_file: str) -> tuple[bytes, dict[str, np.ndarray]]:
    """Serialized ONNX model: ``input_ids`` (batch, length) int64 -> ``pooled`` (batch, hidden) mean of the last states.

    Weight matrices are left out of the protobuf as external data in ``weights_file`` (a name relative
    to the model file) at page-aligned offsets, and returned by name in file order for
    :func:`export_onnx` to write: ONNX Runtime then maps the file instead of copying 90 MB of weights.
    """
    from onnx import TensorProto, helper, numpy_helper

    inits: list = []
    nodes: list = []
    external: dict[str, np.ndarray] = {}

    offset = 0

    def const(name: str, array: np.ndarray) -> str:
        nonlocal offset
        array = np.require(array, requirements="C")  # keeps 0-d scalars 0-d, unlike ascontiguousarray
        if array.size < 1024:
            inits.append(numpy_helper.from_array(array, name))
            return name
        offset += -offset % _ALIGN
        external[name] = array
        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", weights_file), ("offset", str(offset)), ("length", str(array.nbytes))):
            tensor.external_data.add(key=key, value=value)
        inits.append(tensor)
        offset += array.nbytes
        return name

    def node(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    h, d = bert.heads, bert.hidden // bert.heads
    const("word", bert.word)
    const("position", bert.position)
    const("token_type0", bert.token_type0)
    const("zero", np.array(0, dtype=np.int64))
    const("one", np.array(1, dtype=np.int64))
    const("split_heads", np.array([0, 0, 3, h, d], dtype=np.int64))
    const("merge_heads", np.array([0, 0, bert.hidden], dtype=np.int64))
    const("scale", np.array(1.0 / np.sqrt(d), dtype=np.float32))

    shape = node("Shape", ["input_ids"], "ids_shape")
    length = node("Gather", [shape, "one"], "length")
    positions = node("Range", ["zero", length, "one"], "positions")
    x = node("Gather", ["word", "input_ids"], "tok_emb")
    x = node("Add", [x, node("Gather", ["position", positions], "pos_emb")], "emb_sum")
    x = node("Add", [x, "token_type0"], "emb_all")

    def layer_norm(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        return node("LayerNormalization", [x, const(name + ".w", weight), const(name + ".b", bias)], name,
                    axis=-1, epsilon=bert.eps)

    def linear(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        y = node("MatMul", [x, const(name + ".w", weight)], name + ".mm")
        return node("Add", [y, const(name + ".b", bias)], name)

    x = layer_norm(x, *bert.emb_ln, "emb_ln")
    for i, layer in enumerate(bert.layers):
        p = f"l{i}."
        qkv = node("Reshape", [linear(x, *layer["qkv"], p + "qkv"), "split_heads"], p + "qkv5")
        qkv = node("Transpose", [qkv], p + "qkvT", perm=[2, 0, 3, 1, 4])  # (3, b, h, n, d)
        q, k, v = (node("Gather", [qkv, const(p + f"i{j}", np.array(j, dtype=np.int64))], p + name, axis=0)
                   for j, name in enumerate("qkv"))
        scores = node("MatMul", [node("Mul", [q, "scale"], p + "qs"), node("Transpose", [k], p + "kT", perm=[0, 1, 3, 2])],
                      p + "scores")
        probs = node("Softmax", [scores], p + "probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], p + "ctx")], p + "ctxT", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, "merge_heads"], p + "ctx3")
        x = layer_norm(node("Add", [linear(ctx, *layer["attn_out"], p + "attn_out"), x], p + "res1"), *layer["ln1"], p + "ln1")
        inner = linear(x, *layer["ffn_in"], p + "ffn_in")
        # exact GELU, 0.5 x (1 + erf(x / sqrt 2)): ONNX Runtime fuses this pattern into one Gelu kernel
        erf = node("Erf", [node("Mul", [inner, const(p + "rsqrt2", np.array(0.7071067811865476, np.float32))], p + "gx")],
                   p + "erf")
        half = node("Mul", [inner, const(p + "half", np.array(0.5, np.float32))], p + "half_x")
        gelu = node("Mul", [half, node("Add", [erf, const(p + "one_f", np.array(1.0, np.float32))], p + "erf1")], p + "gelu")
        x = layer_norm(node("Add", [linear(gelu, *layer["ffn_out"], p + "ffn_out"), x], p + "res2"), *layer["ln2"], p + "ln2")
    node("ReduceMean", [x], "pooled", axes=[1], keepdims=0)

    graph = helper.make_graph(
        nodes, "bert_mean_pooled",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", bert.hidden])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="routellm_core")
    model.ir_version = 8  # readable by every ONNX Runtime that supports opset 17
    return model.SerializeToString(), external


def onnx_threads() -> int:
    """``$ROUTELLM_ONNX_THREADS``, else 1: on a shared 2-core machine a second thread mostly waits."""
    return max(1, int(os.environ.get("ROUTELLM_ONNX_THREADS", "1")))


def export_onnx(model_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``model.onnx`` + ``weights.bin`` for the BERT in ``model_dir`` into ``out_dir`` (atomically); returns the model path."""
    out_dir = Path(out_dir)
    graph, weights = build_bert_graph(NumpyBert(model_dir), "weights.bin")
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # the cache may be shared: readable like the other cached files
        with open(tmp / "weights.bin", "wb") as fh:
            for array in weights.values():
                fh.write(b"\0" * (-fh.tell() % _ALIGN))
                fh.write(array.tobytes())
        (tmp / "model.onnx").write_bytes(graph)
        try:
            tmp.rename(out_dir)
        except OSError:  # another process exported it first: same bytes, keep theirs
            if not (out_dir / "model.onnx").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / "model.onnx"


def exported_onnx(model_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str]) -> Path:
    """The ONNX export of ``model_dir`` under ``cache_dir/onnx``, built once (under a second, no torch) when missing.

    Keyed by the graph version and the weights file's size and mtime, so an updated model is re-exported.
    """
    model_dir = Path(model_dir)
    stat = (model_dir / "model.safetensors").stat()
    config = (model_dir / "config.json").read_bytes()
    key = hashlib.sha256(f"{GRAPH_VERSION}:{model_dir.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:".encode() + config)
    out_dir = Path(cache_dir) / "onnx" / f"{model_dir.name}-{key.hexdigest()[:16]}"
    if not (out_dir / "model.onnx").is_file():
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model_dir, out_dir)
    return out_dir / "model.onnx"


class OnnxBert:
    """An ONNX Runtime session over an exported BERT, with :class:`NumpyBert`'s ``mean_pooled`` call."""

    def __init__(self, model_path: str | os.PathLike[str], hidden: int, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or onnx_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.hidden = hidden
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def mean_pooled(self, ids: np.ndarray) -> np.ndarray:
        """Mean of the last hidden states of ``ids`` (batch, length): same-length, unpadded sequences."""
        return self.session.run(["pooled"], {"input_ids": np.ascontiguousarray(ids, dtype=np.int64)})[0]
