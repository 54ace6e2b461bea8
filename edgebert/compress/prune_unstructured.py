"""Unstructured magnitude pruning to an exact sparsity, with torch.nn.utils.prune.

Plainly: dense CPU kernels (onnxruntime's MatMul, MatMulInteger) multiply zeros like any other number, so this
makes the model no faster. What it buys is size after general-purpose compression (the zeros gzip well), which
matters for downloads and over-the-air updates. The stage record shows both: MACs unchanged, gzip size smaller.

Which weights: the Linear weights inside the encoder layers (biases, LayerNorms, embeddings and the classifier
are left alone). "global" ranks all of them together (layers that matter less lose more); "layer" removes the
same fraction from each Linear. torch's L1Unstructured removes round(sparsity · n) weights: the sparsity is exact.
When training follows (distillation), the recipe keeps torch's masks on so the zeros stay zero while the other
weights learn, then calls `make_permanent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgebert.bench import memory
from edgebert.compress.common import CompressContext, Layout, check_ratio
from edgebert.config import choices
from edgebert.errors import require


@dataclass(frozen=True)
class PruneUnstructuredConfig:
    sparsity: float = 0.5  # fraction of the encoder layers' Linear weights set to zero
    scope: str = choices("global", "layer", default="global")

    def __post_init__(self) -> None:
        check_ratio("prune_unstructured.sparsity", self.sparsity)


def check(model, config: PruneUnstructuredConfig, ctx: CompressContext | None = None) -> None:
    Layout(model)  # the architecture is one edgebert knows; the config validated itself


def prune_unstructured_(
    model, config: PruneUnstructuredConfig, ctx: CompressContext | None = None, *, permanent: bool | None = None
) -> dict[str, Any]:
    """Zero the smallest-magnitude weights in place; `permanent=False` keeps the masks for training that follows
    (default: keep them when the recipe distils later, since training would otherwise refill the zeros)."""
    if permanent is None:
        permanent = ctx is None or "distill" not in ctx.later_stages
    prune = require("torch.nn.utils.prune")
    linears = Layout(model).linear_weights()
    gzip_before = gzip_bytes(model)
    if config.scope == "global":
        prune.global_unstructured(
            [(m, "weight") for m in linears], pruning_method=prune.L1Unstructured, amount=config.sparsity
        )
    else:
        for m in linears:
            prune.l1_unstructured(m, "weight", amount=config.sparsity)
    if permanent:
        make_permanent(model)
    total = sum(m.weight.numel() for m in linears)
    zeros = sum(int((m.weight == 0).sum()) for m in linears)
    # what torch's L1Unstructured removes: round(amount · n) of the pool (all weights, or each Linear's own)
    target = (
        round(config.sparsity * total)
        if config.scope == "global"
        else sum(round(config.sparsity * m.weight.numel()) for m in linears)
    )
    return {
        "pruned_weights": total,
        "zeros": zeros,
        "achieved_sparsity": zeros / total,
        "target_zeros": target,
        "gzip_bytes_before": gzip_before,
        "gzip_bytes_after": gzip_bytes(model),
        "note": "dense kernels gain no speed from unstructured zeros; the gain is compressed (gzip) size",
    }


def make_permanent(model) -> None:
    """Fold torch's pruning masks into the weights (prune.remove), leaving plain Linear layers."""
    prune = require("torch.nn.utils.prune")
    for m in Layout(model).linear_weights():
        if prune.is_pruned(m):
            prune.remove(m, "weight")


def gzip_bytes(model) -> int:
    """Size of the model's weights (safetensors, each shared tensor once) after gzip level 6: what a download weighs
    (bench.memory.gzip_bytes measures it, as it does a bundle's model file)."""
    from safetensors.torch import save

    tensors, seen = {}, set()
    for prefix, module in model.named_modules():  # named_modules visits a shared layer once
        if id(module) in seen:
            continue
        seen.add(id(module))
        for name, t in module.named_parameters(recurse=False):
            if name == "weight_orig":  # torch.nn.utils.prune keeps the effective (masked) weight as `.weight`
                name, t = "weight", module.weight
            tensors[f"{prefix}.{name}"] = t.detach().contiguous()
    return memory.gzip_bytes(save(tensors))
