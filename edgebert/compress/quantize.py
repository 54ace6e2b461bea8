"""Quantization and precision settings, validated now and applied by `edgebert export`.

The PyTorch model is left as it is: int8 happens in onnxruntime's quantizer at export (export reads
`manifest["quantization"]` of a model directory and applies it over the target's), where it can be validated
against the fp32 source (parity). Modes:
- dynamic: int8 weights, activations quantized per call. Per-channel weights by default: measured here,
  per-tensor int8 dropped MiniLM's minimum embedding cosine to 0.85 against 0.97 per-channel, at the same speed.
- static: int8 weights and activations, ranges calibrated on `calibration_samples` texts of the evaluation data's
  calibration split; `keep_sensitive_float` keeps LayerNorm, GELU, Softmax and residual Add in float (quantizing
  everything collapsed MiniLM's fidelity here: cosine 0.40), and the MatMuls whose inputs one range cannot hold
  (export/onnx.py outlier_nodes).
- fp16: half precision weights and math, for GPU targets (tensor cores); CPUs have no fast fp16 GEMM.
- bf16: bfloat16, where the CPU has AVX-512 BF16 (PyTorch bf16 MiniLM ran 1.7x faster than fp32 here at
  0.9999 cosine); exported through TorchScript (`edgebert export --format torchscript`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgebert import cpu
from edgebert.compress.common import CompressContext
from edgebert.config import choices, from_dict, to_dict
from edgebert.errors import ConfigError
from edgebert.targets import SENSITIVE_OPS, QuantizationSettings


@dataclass(frozen=True)
class QuantizeConfig:
    mode: str = choices("dynamic", "static", "fp16", "bf16", "none", default="dynamic")
    per_channel: bool = True
    weight_type: str = choices("int8", "uint8", default="int8")
    activation_type: str = choices("uint8", "int8", default="uint8")
    format: str | None = choices("QOperator", "QDQ", default=None)  # default: QOperator dynamic, QDQ static
    reduce_range: bool = False  # 7-bit weights: for x86 CPUs without VNNI, whose U8S8 kernel can saturate
    calibration_samples: int = 128  # static only
    keep_sensitive_float: bool = True  # static only: LayerNorm, GELU, Softmax, residual Add stay float

    def __post_init__(self) -> None:
        if self.calibration_samples < 1:
            raise ValueError("quantize.calibration_samples must be >= 1")


def settings(config: QuantizeConfig) -> tuple[QuantizationSettings, str]:
    """(the QuantizationSettings export applies, the precision the export will have)."""
    if config.mode in ("fp16", "bf16", "none"):
        return QuantizationSettings(mode="none"), ("fp32" if config.mode == "none" else config.mode)
    data = {
        "mode": config.mode,
        "format": config.format or ("QOperator" if config.mode == "dynamic" else "QDQ"),
        "weight_type": config.weight_type,
        "activation_type": config.activation_type,
        "per_channel": config.per_channel,
        "reduce_range": config.reduce_range,
        "calibration_samples": config.calibration_samples,
        "keep_float_ops": list(SENSITIVE_OPS if config.keep_sensitive_float else ()),
    }
    try:
        return from_dict(QuantizationSettings, data, "quantize"), "int8"
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("quantization.", "quantize.")) from None


def check(model, config: QuantizeConfig, ctx: CompressContext | None = None) -> None:
    settings(config)


def plan_quantization(model, config: QuantizeConfig, ctx: CompressContext | None = None) -> dict[str, Any]:
    """Validate the settings and return the manifest entries export will apply.

    No trailing underscore: unlike the other stages (and torchao's `quantize_`) this leaves the model unchanged.
    """
    q, precision = settings(config)
    notes = []
    if config.mode == "bf16" and "avx512_bf16" not in cpu.cpu_features() and "amx_bf16" not in cpu.cpu_features():
        notes.append("this CPU has no AVX-512 BF16: bf16 here runs emulated and slow; it pays off on CPUs that have it")
    if config.mode == "fp16":
        notes.append("fp16 is for GPU targets (export with --target cuda); CPUs have no fast fp16 matrix multiply")
    if (
        config.mode == "static"
        and ctx is not None
        and ctx.dev is not None
        and len(ctx.dev) < config.calibration_samples
    ):
        notes.append(f"only {len(ctx.dev)} calibration texts are available, fewer than calibration_samples")
    out: dict[str, Any] = {
        "quantization": to_dict(q),
        "precision": precision,
        "note": "applied by `edgebert export`, whose parity check measures its effect",
    }
    if notes:
        out["notes"] = notes
    return out
