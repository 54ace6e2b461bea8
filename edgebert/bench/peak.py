"""The machine's measured GEMM peak, int8 and fp32, through onnxruntime: the limit a bench's achieved rate is held to.

A short probe (about a second per precision) runs one large MatMul (fp32) and MatMulInteger (uint8 x int8 → int32,
the kernel onnxruntime's dynamic quantization uses) on the same execution provider and thread count as the bench,
and keeps the median call of the better shape: what the kernel sustains at its best shape, robust to one lucky or
unlucky call. The result is cached per machine, thread count and
onnxruntime version under the edgebert cache directory, so only the first bench on a machine pays for it; a probe
that other processes disturbed (more than BUSY_LOAD of the CPUs) is used once but not cached.

The two one-node models are written here at the protobuf wire level: `edgebert bench` must not import onnx.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

SHAPES = ((512, 512, 512),)  # M, K, N: kernels, not call overhead, set the rate (1024³ fp32 measured slower here)
PROBE_S = 0.2  # seconds of calls per precision and shape
ELEM = {"fp32": (1, 1, 1), "int8": (2, 3, 6)}  # ONNX element types of A, B, Y: FLOAT; UINT8, INT8 → INT32


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, elem: int, dims: tuple[int, int]) -> bytes:
    shape = b"".join(_field(1, _field(1, d)) for d in dims)  # TensorShapeProto.dim { dim_value }
    tensor = _field(1, elem) + _field(2, shape)  # TypeProto.Tensor { elem_type, shape }
    return _field(1, name) + _field(2, _field(1, tensor))  # ValueInfoProto { name, type { tensor_type } }


def matmul_model(precision: str, m: int, k: int, n: int) -> bytes:
    """A serialized ONNX model: Y = MatMul(A, B) (fp32) or MatMulInteger(A, B) (int8)."""
    ea, eb, ey = ELEM[precision]
    op = "MatMul" if precision == "fp32" else "MatMulInteger"
    node = _field(1, "A") + _field(1, "B") + _field(2, "Y") + _field(4, op)
    graph = (
        _field(1, node)
        + _field(2, "probe")
        + _field(11, _value_info("A", ea, (m, k)))
        + _field(11, _value_info("B", eb, (k, n)))
        + _field(12, _value_info("Y", ey, (m, n)))
    )
    opset = _field(1, "") + _field(2, 13)
    return _field(1, 8) + _field(7, graph) + _field(8, opset)  # ir_version 8, graph, opset_import


def probe(precision: str, threads: int, seconds: float = PROBE_S, shape: tuple[int, int, int] = SHAPES[0]) -> float:
    """GOP/s (2 operations per multiply-accumulate) of the median call of one MatMul of `shape` over about `seconds`."""
    import onnxruntime as ort

    m, k, n = shape
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(matmul_model(precision, m, k, n), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    if precision == "fp32":
        feeds = {"A": rng.standard_normal((m, k), dtype=np.float32), "B": rng.standard_normal((k, n), dtype=np.float32)}
    else:
        feeds = {"A": rng.integers(0, 256, (m, k), dtype=np.uint8), "B": rng.integers(-128, 128, (k, n), dtype=np.int8)}
    sess.run(None, feeds)  # warm-up: packing, thread pool start
    times: list[float] = []
    while sum(times) < seconds or len(times) < 5:
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t0)
    return 2 * m * k * n / float(np.median(times)) / 1e9


def _cache_file(threads: int) -> Path:
    import onnxruntime as ort

    from edgebert.bench.environment import machine_id
    from edgebert.config import cache_dir

    return cache_dir() / "peak" / f"{machine_id()[:16]}-t{threads}-ort{ort.__version__}.json"


def machine_peak(threads: int, refresh: bool = False) -> dict[str, Any]:
    """{"int8_gops", "fp32_gops", "shapes", "threads", "measured_at", "cached"} for this machine, probed once and cached."""
    path = _cache_file(threads)
    if path.is_file() and not refresh:
        try:
            doc = json.loads(path.read_text())
            if {"int8_gops", "fp32_gops"} <= doc.keys():
                return {**doc, "cached": True}
        except (OSError, json.JSONDecodeError):
            pass  # a damaged cache entry is measured again
    from edgebert.bench.environment import BUSY_LOAD, CpuLoad

    load = CpuLoad()
    doc = {f"{p}_gops": round(max(probe(p, threads, shape=s) for s in SHAPES), 1) for p in ("int8", "fp32")}
    doc.update(
        {
            "shapes": [list(s) for s in SHAPES],
            "threads": threads,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "others_load": load.stop()["others"],
        }
    )
    if (
        doc["others_load"] > BUSY_LOAD
    ):  # a peak measured under foreign load is too low: use it now, measure again next time
        return {**doc, "cached": False}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(doc) + "\n")
    tmp.replace(path)
    return {**doc, "cached": False}


def fraction_rows(rows: list[dict[str, Any]], precision: str | None, peak: dict[str, Any] | None) -> None:
    """Add fraction_of_peak (achieved_gops / the peak of the bundle's precision) to latency rows, in place."""
    key = "int8_gops" if precision == "int8" else "fp32_gops"
    for r in rows:
        gops = r.get("achieved_gops")
        r["fraction_of_peak"] = gops / peak[key] if gops is not None and peak and peak.get(key) else None
