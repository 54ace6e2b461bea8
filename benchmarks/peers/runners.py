"""One way to load and call each kind of variant: inputs (numpy dict) → logits (numpy).

A `RunnerSpec` is plain data so that the memory probe, a separate process, opens exactly what the timing loop
opens. ONNX files — Optimum's and edgebert's alike — run through `edgebert.runtime.OnnxRunner` with the same
session settings (threads, graph optimisation level, providers), so the comparison is of the models, not of
two ways of calling onnxruntime. Optimum's `ORTModel` wrapper is not timed: it adds Python-side tensor
conversion on every call, and the model it runs is the same file.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebert.errors import UserError, require

KINDS = ("torch-eager", "torch-int8", "torchscript", "onnx", "edgebert")
Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class RunnerSpec:
    kind: str  # one of KINDS
    path: str  # model dir (torch-*), model file (torchscript, onnx) or bundle dir (edgebert)
    inputs: tuple[str, ...]  # input names, in the order a traced module takes them
    output: str = "logits"  # the ONNX output an "onnx" runner returns (feature extraction: an embedding output)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunnerSpec":
        return cls(d["kind"], d["path"], tuple(d["inputs"]), d.get("output", "logits"))


def _ort_manifest(model_file: str, inputs: tuple[str, ...], output: str = "logits") -> dict[str, Any]:
    """The few manifest fields `OnnxRunner` reads, with the runtime settings every ONNX variant shares."""
    return {
        "model_file": model_file,
        "inputs": list(inputs),
        "outputs": [output],
        "files": {model_file: "built by peers"},
        "target": {"runtime": {"graph_optimization": "all", "execution_providers": ["CPUExecutionProvider"]}},
    }


def quantize_torch_dynamic(model):
    """PyTorch's eager dynamic int8 (nn.Linear → int8 weights, activations quantized per call).

    torch.ao.quantization is deprecated in torch 2.13 in favour of torchao, but still ships and still is what a
    PyTorch user reaches for without extra packages; its deprecation warning is silenced here, not hidden in
    the report.
    """
    torch = require("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def open_runner(spec: RunnerSpec, threads: int) -> Runner:
    if spec.kind not in KINDS:
        raise UserError(f"unknown variant kind {spec.kind!r}; expected one of {', '.join(KINDS)}")
    names = spec.inputs
    if spec.kind == "onnx":
        from edgebert.runtime import OnnxRunner

        path = Path(spec.path)
        runner = OnnxRunner(path.parent, _ort_manifest(path.name, names, spec.output), threads=threads)
        return lambda x: runner({k: x[k] for k in names})
    if spec.kind == "edgebert":
        from edgebert.bundle import read_manifest
        from edgebert.runtime import make_runner

        manifest = read_manifest(spec.path)
        runner = make_runner(Path(spec.path), manifest, threads=threads)
        return lambda x: runner({k: x[k] for k in names})
    torch = require("torch")
    torch.set_num_threads(threads)
    if spec.kind == "torchscript":
        from edgebert.runtime import TorchScriptRunner

        path = Path(spec.path)
        manifest = {
            "model_file": path.name,
            "inputs": list(names),
            "files": {path.name: "built by peers"},
            "target": {"runtime": {"torch_quantized_engine": "none", "intra_op_threads": threads}},
        }
        runner = TorchScriptRunner(
            path.parent, manifest, threads=threads, trust_torchscript=True
        )  # traced by peers itself
        return lambda x: runner(x)
    from edgebert.models import load_classifier

    model, _ = load_classifier(spec.path)
    if spec.kind == "torch-int8":
        model = quantize_torch_dynamic(model)

    def call(x: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(x[k]) for k in names}).logits.numpy()

    return call
