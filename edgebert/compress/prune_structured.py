"""Structured pruning: attention heads, FFN neurons and whole layers, chosen by importance measured on data.

Why structured: unstructured zeros leave dense kernels doing the same work; removing heads, neurons and layers
makes every matrix smaller, so the exported graph does fewer operations (its weight shapes show it).

Importance (on `samples` training texts, model in eval mode):
- "gradient" (default): first-order Taylor estimate of the loss change when a unit is removed, |Σ_tokens a·∂L/∂a|
  per example, summed over examples. For a head, `a` is its slice of the attention context (the input of the
  attention output projection): this equals the head-mask gradient of Michel et al. (2019, "Are Sixteen Heads
  Really Better than One?"). For an FFN neuron, `a` is its activation (the input of the FFN output Linear).
- "activation": mean activation magnitude over real tokens (no backward pass; cheaper, cruder).
Layers go first, greedily: each round drops the layer whose removal raises the task loss on the same texts the
least, so which layers survive is measured, not assumed (not just "every other one"). Measuring that on the
intact model is more reliable than on one whose heads were already cut, and the heads and neurons are then
scored in the network that will really run. Heads and neurons are ranked within each layer and the same count
is removed from every layer: uniform shapes export and reload cleanly (transformers re-applies
`config.pruned_heads` on load; `intermediate_size` is one number).
For a token classifier the loss is the cross-entropy of each word's tag at its first sub-token (compress/tagging.py).
For a sentence-embedding model (no labels) the task loss is the cosine distance to the intact model's own sentence
embeddings, and heads and neurons need importance = "activation" (compress/embedding.py says why).
(Measured on the default model, layers first then half the heads and FFN, keeping 4 of 6 layers: 74.4% dev
accuracy before distillation and 83.5% after 600 steps, against 83.1% unpruned.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgebert.compress.common import CompressContext, Layout, batches, check_ratio, label_loss, require_data
from edgebert.config import choices
from edgebert.errors import ConfigError, require
from edgebert.models import SHARED_LAYERS_KEY


@dataclass(frozen=True)
class PruneStructuredConfig:
    heads_ratio: float = 0.0  # fraction of attention heads removed from every layer
    ffn_ratio: float = 0.0  # fraction of feed-forward neurons removed from every layer
    layers_ratio: float = 0.0  # fraction of layers removed (lowest measured importance first)
    importance: str = choices("gradient", "activation", default="gradient")
    samples: int = 256  # training texts the importance scores are measured on
    batch_size: int = 32

    def __post_init__(self) -> None:
        for name in ("heads_ratio", "ffn_ratio", "layers_ratio"):
            check_ratio(f"prune_structured.{name}", getattr(self, name))
        if self.samples < 1 or self.batch_size < 1:
            raise ValueError("prune_structured.samples and batch_size must be >= 1")


def _count(ratio: float, n: int) -> int:
    return int(round(ratio * n))


def planned_layers(model, config: PruneStructuredConfig) -> int:
    """How many layers pruning will leave (the recipe's preflight checks later stages against it)."""
    n = len(Layout(model).layers)
    return n - _count(config.layers_ratio, n)


def check(model, config: PruneStructuredConfig, ctx: CompressContext | None = None) -> None:
    """One-line errors before any work: pruning every head of a layer, or every layer; no data to measure on."""
    layout = Layout(model)
    if config.heads_ratio and not layout.arch.prunable_heads:  # MPNet: why in architectures.py
        raise ConfigError(
            f"head pruning is not supported for {layout.arch.model_type} models (their relative position bias spans every head); "
            "set prune_structured.heads_ratio = 0 and prune FFN neurons or layers"
        )
    if getattr(model.config, SHARED_LAYERS_KEY, None):
        raise ConfigError("prune_structured must run before layers are shared; the recipe order does that")
    for i, layer in enumerate(layout.layers):
        n = len(layout.heads_in(layer))
        if _count(config.heads_ratio, n) >= n:
            raise ConfigError(
                f"prune_structured.heads_ratio = {config.heads_ratio} would prune every head of layer {i} "
                f"({n} heads); use a ratio below {(n - 0.5) / n:.3f}"
            )
    n = len(layout.layers)
    if _count(config.layers_ratio, n) >= n:
        raise ConfigError(
            f"prune_structured.layers_ratio = {config.layers_ratio} would remove all {n} layers; use a smaller ratio"
        )
    if ctx is not None and ctx.embedding is not None and config.importance == "gradient":
        if config.heads_ratio or config.ffn_ratio:
            raise ConfigError(
                'prune_structured.importance = "gradient" needs labels (its Taylor score is zero against a '
                'sentence-embedding teacher); set importance = "activation" for sentence-embedding models'
            )
    if ctx is not None and (config.heads_ratio or config.ffn_ratio or config.layers_ratio):
        require_data(ctx, "structured pruning (importance is measured on data)")


def prune_structured_(model, config: PruneStructuredConfig, ctx: CompressContext) -> dict[str, Any]:
    """Prune layers, then heads and FFN neurons of `model` in place; returns what was removed and why."""
    check(model, config, ctx)
    layout = Layout(model)
    details: dict[str, Any] = {}
    if config.layers_ratio:
        train = require_data(ctx, "layer pruning (which layers to keep is measured on data)")
        n = len(layout.layers)
        kept, rounds = _select_layers(model, layout, n - _count(config.layers_ratio, n), train, config, ctx)
        _keep_layers(model, layout, kept, ctx)
        details["layers_kept"] = kept
        details["layer_selection"] = rounds
    if config.heads_ratio or config.ffn_ratio:
        train = require_data(ctx, "structured pruning (importance is measured on data)")
        t0 = time.time()
        head_scores, ffn_scores = unit_importance(model, train, config, ctx)
        details["importance_seconds"] = round(time.time() - t0, 1)
        if config.heads_ratio:
            details["pruned_heads"] = _prune_heads(model, layout, head_scores, config.heads_ratio)
        if config.ffn_ratio:
            details["ffn_kept"] = _prune_ffn(model, layout, ffn_scores, config.ffn_ratio)
    return details


def unit_importance(
    model, train, config: PruneStructuredConfig, ctx: CompressContext
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Importance of every head and every FFN neuron of every layer (see the module docstring)."""
    torch = require("torch")
    layout = Layout(model)
    layers = list(layout.layers)
    captured: dict[tuple[int, str], Any] = {}
    hooks = []
    for i, layer in enumerate(layers):
        for name in ("attn_out", "ffn_out"):

            def keep_input(module, args, key=(i, name)):
                captured[key] = args[0]

            hooks.append(layout.part(layer, name).register_forward_pre_hook(keep_input))
    heads = [np.zeros(len(layout.heads_in(layer))) for layer in layers]
    ffn = [np.zeros(layout.part(layer, "ffn_in").out_features) for layer in layers]
    d = layout.head_size
    model.eval()
    try:
        for enc, y in batches(model, train, ctx, config.samples, config.batch_size):
            captured.clear()
            mask = enc["attention_mask"].unsqueeze(-1).float()
            if config.importance == "gradient":
                with torch.enable_grad():
                    loss = label_loss(model(**enc).logits, y)
                    keys = list(captured)
                    grads = torch.autograd.grad(loss, [captured[k] for k in keys])
                for (i, name), g in zip(keys, grads):
                    contrib = captured[(i, name)].detach() * g * mask  # B, T, width
                    if name == "attn_out":
                        heads[i] += contrib.view(*contrib.shape[:2], -1, d).sum(dim=(1, 3)).abs().sum(0).numpy()
                    else:
                        ffn[i] += contrib.sum(1).abs().sum(0).numpy()
            else:
                with torch.inference_mode():
                    model(**enc)
                    for (i, name), a in captured.items():
                        if name == "attn_out":
                            heads[i] += (a.view(*a.shape[:2], -1, d).norm(dim=-1) * mask).sum(dim=(0, 1)).numpy()
                        else:
                            ffn[i] += (a.abs() * mask).sum(dim=(0, 1)).numpy()
    finally:
        for h in hooks:
            h.remove()
    return heads, ffn


def _prune_heads(model, layout: Layout, scores: list[np.ndarray], ratio: float) -> dict[str, list[int]]:
    to_prune = {}
    for i, layer in enumerate(layout.layers):
        present = layout.heads_in(layer)
        k = _count(ratio, len(present))
        if k:
            to_prune[i] = sorted(present[j] for j in np.argsort(scores[i], kind="stable")[:k])
    model.prune_heads(to_prune)  # transformers shrinks Q/K/V/O and records config.pruned_heads for reloading
    return {str(i): h for i, h in to_prune.items()}


def _prune_ffn(model, layout: Layout, scores: list[np.ndarray], ratio: float) -> int:
    from transformers.pytorch_utils import prune_linear_layer

    torch = require("torch")
    widths = {layout.part(layer, "ffn_in").out_features for layer in layout.layers}
    if len(widths) != 1:
        raise ConfigError(
            f"FFN pruning needs one FFN width in every layer (config has one intermediate size), found {sorted(widths)}"
        )
    width = widths.pop()
    keep = width - _count(ratio, width)
    for i, layer in enumerate(layout.layers):
        idx = torch.as_tensor(np.sort(np.argsort(-scores[i], kind="stable")[:keep]))
        layout.set_part(layer, "ffn_in", prune_linear_layer(layout.part(layer, "ffn_in"), idx, dim=0))
        layout.set_part(layer, "ffn_out", prune_linear_layer(layout.part(layer, "ffn_out"), idx, dim=1))
    setattr(model.config, layout.keys["ffn"], keep)
    return keep


def _select_layers(model, layout: Layout, n_keep: int, train, config: PruneStructuredConfig, ctx: CompressContext):
    """Greedy backward elimination on the task loss; returns (kept indices, one record per round)."""
    torch = require("torch")
    layers = list(layout.layers)
    data = list(batches(model, train, ctx, config.samples, config.batch_size))
    n_texts = sum(len(y) for _, y in data)
    emb = ctx.embedding
    if emb is not None:  # no labels: the targets are the intact model's own sentence vectors
        with torch.inference_mode():
            data = [(enc, emb.sentence(model(**enc, return_dict=False)[0], enc["attention_mask"])) for enc, _ in data]

    def loss_with(idx: list[int]) -> float:
        layout.set_layers([layers[i] for i in idx])
        total = 0.0
        with torch.inference_mode():
            for enc, y in data:
                if emb is not None:
                    total += float(emb.loss(model, enc, y, reduction="sum"))
                else:
                    total += float(label_loss(model(**enc).logits, y))
        return total / n_texts

    kept, rounds = list(range(len(layers))), []
    model.eval()
    try:
        while len(kept) > n_keep:
            losses = {i: loss_with([k for k in kept if k != i]) for i in kept}
            drop = min(losses, key=losses.get)
            rounds.append({"dropped": drop, "loss_without": {str(k): round(v, 4) for k, v in losses.items()}})
            ctx.log(f"layer selection: dropping layer {drop} (loss without it {losses[drop]:.3f})")
            kept.remove(drop)
    finally:
        layout.set_layers(layers)
    return kept, rounds


def _keep_layers(model, layout: Layout, kept: list[int], ctx: CompressContext) -> None:
    layers = list(layout.layers)
    layout.set_layers([layers[i] for i in kept])
    # config.pruned_heads is keyed by layer position: renumber it, or reloading would prune the wrong layers.
    old = {int(k): v for k, v in (model.config.pruned_heads or {}).items()}
    model.config.pruned_heads = {new: old[i] for new, i in enumerate(kept) if i in old}
    source = ctx.layer_map if ctx.layer_map is not None else list(range(len(layers)))
    ctx.layer_map = [source[i] for i in kept]
