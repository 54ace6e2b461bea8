"""How close to the machine's limit: measured GEMM throughput, and each variant's multiply-accumulates.

The limit is what onnxruntime itself reaches on one bare matrix multiply — a one-node MatMul (fp32) or
MatMulInteger (uint8 activations × int8 weights, what dynamic quantization emits) graph built with onnx.helper —
at transformer-like shapes and at a large square shape, with the same threads as the variants. The best of
those is "the limit" for that precision: a model cannot beat its own GEMMs, so ops/s ÷ limit says how much of
the machine a variant uses (fixed costs — LayerNorm, Softmax, activation quantization, Python — are the rest).

Multiply-accumulates come from the model's own modules through `edgebert.compress.common.macs_per_token`, the
formula `compress` records in its manifests, so pruned, distilled or layer-shared models count what they run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgebert.bench.latency import summarize, time_calls
from edgebert.errors import require

# (M, K, N): one sequence of 128 tokens through an FFN's two projections, the same at batch 8, and a large square.
GEMM_SHAPES = ((128, 384, 1536), (128, 1536, 384), (1024, 384, 1536), (1024, 1536, 384), (2048, 2048, 2048))


def _gemm_graph(path: Path, dtype: str, m: int, k: int, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    onnx = require("onnx")
    from onnx import TensorProto, helper, numpy_helper

    if dtype == "fp32":
        b = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "B")
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_type, y_type, inits = TensorProto.FLOAT, TensorProto.FLOAT, [b]
        feed = {"A": rng.standard_normal((m, k)).astype(np.float32)}
    else:
        b = numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "B")
        a_zp = numpy_helper.from_array(np.array(128, dtype=np.uint8), "a_zp")
        node = helper.make_node("MatMulInteger", ["A", "B", "a_zp"], ["Y"])
        a_type, y_type, inits = TensorProto.UINT8, TensorProto.INT32, [b, a_zp]
        feed = {"A": rng.integers(0, 256, (m, k), dtype=np.uint8)}
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("A", a_type, [m, k])],
        [helper.make_tensor_value_info("Y", y_type, [m, n])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return feed


def measure_gemm_peak(
    threads: int, iterations: int = 20, warmup: int = 3, shapes: tuple[tuple[int, int, int], ...] = GEMM_SHAPES
) -> dict[str, Any]:
    """GOP/s of onnxruntime's fp32 and int8 GEMM at each shape; `peak_gops` is the best per precision."""
    from edgebert.runtime import OnnxRunner

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="peers-gemm-") as tmp:
        for dtype in ("fp32", "int8"):
            for m, k, n in shapes:
                path = Path(tmp) / f"{dtype}-{m}x{k}x{n}.onnx"
                feed = _gemm_graph(path, dtype, m, k, n, rng)
                runner = OnnxRunner(
                    path.parent,
                    {
                        "model_file": path.name,
                        "outputs": ["Y"],
                        "files": {path.name: "built here"},
                        "target": {"runtime": {"graph_optimization": "all"}},
                    },
                    threads=threads,
                )
                stats = summarize(time_calls(lambda: runner(feed), warmup=warmup, iterations=iterations), 1, 0)
                rows.append(
                    {
                        "precision": dtype,
                        "m": m,
                        "k": k,
                        "n": n,
                        "p50_ms": stats["p50_ms"],
                        "gops": 2 * m * k * n / (stats["p50_ms"] / 1e3) / 1e9,
                    }
                )
    peak = {d: max(r["gops"] for r in rows if r["precision"] == d) for d in ("fp32", "int8")}
    return {"shapes": rows, "peak_gops": peak, "threads": threads, "runtime": "onnxruntime"}


class MacCounter:
    """Multiply-accumulates of one forward pass, from the model's own modules (compress.common's formula).

    `macs_per_token(model, s)` counts every encoder Linear per token, attention's QKᵀ and AV as 2·s·(query
    width) per token per layer, and the pooler/classifier once per sequence; so one sequence of s tokens costs
    s × macs_per_token(model, s). Pruned, distilled or layer-shared models count their real shapes and layers.
    """

    def __init__(self, model_dir: Path):
        from edgebert.compress.common import macs_per_token, shape_summary
        from edgebert.models import load_classifier

        self._model, _ = load_classifier(model_dir)
        self._per_token = macs_per_token
        self._cache: dict[int, int] = {}
        self.shape = shape_summary(self._model)

    def sequence(self, seq_len: int) -> int:
        """MACs for one sequence of `seq_len` tokens (padding included: the runtimes compute it)."""
        if seq_len not in self._cache:
            self._cache[seq_len] = seq_len * self._per_token(self._model, seq_len)
        return self._cache[seq_len]

    def call(self, batch_size: int, seq_len: int) -> int:
        return batch_size * self.sequence(seq_len)
