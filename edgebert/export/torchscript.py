"""PyTorch → TorchScript (traced), int8 through PyTorch's quantized engine that fits the target."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

from edgebert.errors import ConfigError, require
from edgebert.models import logits_module
from edgebert.targets import Target


def to_torchscript(model, input_names: Sequence[str], path: Path, target: Target) -> dict:
    torch = require("torch")
    q = target.quantization
    info: dict = {"quantized_engine": None}
    model = model.eval()
    if q.mode == "static":
        raise ConfigError(
            "TorchScript export supports dynamic int8 or float; use --format onnx for static quantization"
        )
    if q.mode == "dynamic":
        engine = target.runtime.torch_quantized_engine
        if engine not in torch.backends.quantized.supported_engines:
            raise ConfigError(
                f"PyTorch here has no {engine!r} quantized engine (it has {', '.join(torch.backends.quantized.supported_engines)}); export ONNX instead"
            )
        torch.backends.quantized.engine = engine
        info["quantized_engine"] = engine
        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency here; the eager
            # dynamic path is still the one TorchScript can serialise with its packed int8 weights.
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    elif target.export.precision == "fp16":
        model = model.half()
    elif target.export.precision == "bf16":
        model = model.to(torch.bfloat16)

    example = tuple(torch.ones((2, 16), dtype=torch.long) for _ in input_names)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(logits_module(model, input_names), example, check_trace=False, strict=False)
        traced = torch.jit.freeze(traced) if q.mode == "none" else traced
    traced.save(str(path))
    return info
