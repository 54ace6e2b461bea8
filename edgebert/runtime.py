"""Run a bundle: tokenize with `tokenizers`, infer with onnxruntime (or TorchScript when torch is present).

This is the code path a Raspberry Pi runs, so it imports no torch or transformers for ONNX bundles. Export's
parity check uses the same runner, so what is validated is exactly what `bench` times.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebert.bundle import listed
from edgebert.config import MAX_THREADS
from edgebert.errors import BundleError, MissingDependencyError, UserError


GRAPH_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def load_tokenizer(bundle_dir: Path, manifest: dict[str, Any]):
    from tokenizers import Tokenizer

    info = manifest.get("tokenizer")
    if not isinstance(info, dict) or not info.get("file"):
        raise BundleError(
            f"bundle {bundle_dir} has no tokenizer (manifest.json lacks tokenizer.file); re-export the bundle"
        )
    path = listed(bundle_dir, manifest, info["file"], "tokenizer.file")
    try:
        tok = Tokenizer.from_file(str(path))
        tok.enable_truncation(max_length=int(info["max_length"]))
        tok.enable_padding(pad_id=int(info["pad_id"]), pad_token=str(info["pad_token"]))
    except BaseException as exc:  # tokenizers raises bare Exceptions (and pyo3 panics) on a bad file or setting
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        reason = (
            "not UTF-8 text"
            if "UTF-8" in str(exc)
            else str(exc).splitlines()[0][:120]
            if str(exc)
            else type(exc).__name__
        )
        raise BundleError(f"cannot read the bundle's tokenizer {path} ({reason}); re-export the bundle") from None
    return tok


class Encoder:
    """Texts → the model's int64 input arrays, padded to the longest text of the batch."""

    def __init__(self, bundle_dir: Path, manifest: dict[str, Any]):
        self.tokenizer = load_tokenizer(bundle_dir, manifest)
        self.input_names = list(manifest["inputs"])

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encs = self.tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }
        return {k: arrays[k] for k in self.input_names}

    def lengths(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([sum(e.attention_mask) for e in self.tokenizer.encode_batch(list(texts))])


class OnnxRunner:
    """An onnxruntime session configured from the bundle's resolved target settings."""

    def __init__(
        self, bundle_dir: Path, manifest: dict[str, Any], threads: int | None = None, providers: list[str] | None = None
    ):
        import onnxruntime as ort

        runtime = manifest["target"]["runtime"]
        opts = ort.SessionOptions()
        opts.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, GRAPH_LEVELS[runtime.get("graph_optimization", "all")]
        )
        n = check_threads(runtime.get("intra_op_threads", 0) if threads is None else threads)
        opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
        available = set(ort.get_available_providers())
        wanted = providers or list(runtime.get("execution_providers", ["CPUExecutionProvider"]))
        self.providers = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        self.session_options = opts
        path = listed(bundle_dir, manifest, manifest.get("model_file"), "model_file")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=self.providers)
        except Exception as exc:  # onnxruntime's Fail / InvalidGraph / InvalidProtobuf...
            raise BundleError(onnx_load_error(path, str(exc), ort.__version__)) from None
        self.threads = int(n)
        self.output_name = manifest["outputs"][0]

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run([self.output_name], inputs)[0]


def check_threads(n: Any) -> int:
    """A thread count in 0 (the runtime's default) .. MAX_THREADS, or a one-line error."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_THREADS:
        raise UserError(
            f"thread count must be a whole number from 0 (the runtime's default) to {MAX_THREADS}, got {n!r}"
        )
    return int(n)


def onnx_load_error(path: Path, message: str, ort_version: str) -> str:
    """onnxruntime's multi-line C++ error as one line; an opset newer than this onnxruntime says which and how to fix."""
    newer = re.search(r"Opset (\d+) is under development", message) or re.search(
        r"opset (\d+) is not supported", message, re.I
    )
    if newer:
        top = re.search(r"till opset (\d+)", message)
        supported = f" (it supports ai.onnx up to opset {top.group(1)})" if top else ""
        return (
            f"{path} uses ONNX opset {newer.group(1)}, newer than this onnxruntime {ort_version} supports{supported}; "
            "re-export with a lower [export] opset in the target file, or upgrade onnxruntime"
        )
    first = next((line for line in message.splitlines() if line.strip()), "unknown error")
    return f"onnxruntime {ort_version} cannot load {path}: {first[:200]}; re-export the bundle"


class TorchScriptRunner:
    """TorchScript is code (a program in TorchScript's language, run by torch): load it only when trusted."""

    def __init__(
        self, bundle_dir: Path, manifest: dict[str, Any], threads: int | None = None, trust_torchscript: bool = False
    ):
        if not trust_torchscript:
            raise UserError(UNTRUSTED_TORCHSCRIPT.format(bundle=bundle_dir))
        path = listed(bundle_dir, manifest, manifest.get("model_file"), "model_file")
        threads = check_threads(
            manifest["target"]["runtime"].get("intra_op_threads", 0) if threads is None else threads
        )
        try:
            import torch
        except ImportError:
            raise MissingDependencyError(
                "this is a TorchScript bundle and torch is not installed: pip install torch (or export with --format onnx)"
            ) from None
        engine = manifest["target"]["runtime"].get("torch_quantized_engine", "none")
        if engine != "none" and engine in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = engine
        if threads:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        self.providers = [f"torch-{torch.__version__}"]
        self.torch = torch
        # torch.jit.load reads a TorchScript archive (code + tensors), not an arbitrary pickle of Python objects; the
        # code still runs with this process's rights, hence trust_torchscript (SECURITY.md). torch 2.13 deprecates
        # TorchScript in favour of torch.export; these bundles are TorchScript by design.
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=r".*torch\.jit\.load.* is deprecated", category=DeprecationWarning
                )
                self.module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise BundleError(
                f"torch {torch.__version__} cannot load {path}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}; re-export the bundle"
            ) from None
        self.module.eval()
        self.input_names = list(manifest["inputs"])

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.module(*[self.torch.from_numpy(inputs[k]) for k in self.input_names])
        if isinstance(out, (tuple, list)):
            out = out[0]
        elif isinstance(out, dict):
            out = out["logits"]
        return out.float().numpy()


UNTRUSTED_TORCHSCRIPT = (
    "{bundle} is a TorchScript bundle: TorchScript is code that runs with your rights; load it only "
    "if you trust its source, with --trust-torchscript (API: trust_torchscript=True)"
)


def make_runner(
    bundle_dir: Path, manifest: dict[str, Any], threads: int | None = None, trust_torchscript: bool = False
):
    fmt = manifest.get("format")
    if fmt == "onnx":
        return OnnxRunner(bundle_dir, manifest, threads)
    if fmt == "torchscript":
        return TorchScriptRunner(bundle_dir, manifest, threads, trust_torchscript)
    raise BundleError(f"bundle format {fmt!r} is unknown; expected onnx or torchscript")


def predict_logits(runner, encoder: Encoder, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Logits for every text, batched in length order so padding stays small; returned in input order."""
    texts = list(texts)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out: np.ndarray | None = None
    for i in range(0, len(texts), batch_size):
        idx = order[i : i + batch_size]
        logits = runner(encoder([texts[j] for j in idx]))
        if out is None:
            out = np.zeros((len(texts), logits.shape[-1]), dtype=np.float32)
        out[idx] = logits
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)
