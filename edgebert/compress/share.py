"""Cross-layer parameter sharing: groups of consecutive layers become one module, run at each of their positions.

The compute is unchanged (every position still runs a layer); the parameters, the safetensors file and the ONNX
file shrink, because each shared weight is stored once. Sharing costs accuracy: fine-tune or distil afterwards
(the recipe's distillation stage does).

How it survives a save and a reload: `config.json` gains `edgebert_shared_layers` (e.g. [[0, 1], [2, 3]]); the
safetensors file holds each group's first layer only; models.load_classifier ties the followers back to it
(models.tie_shared_layers / models.unique_state_dict: the low-level loader owns the persistence, so it never
imports a compression method).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgebert.compress.common import CompressContext, Layout
from edgebert.config import choices
from edgebert.errors import ConfigError, require
from edgebert.models import SHARED_LAYERS_KEY as CONFIG_KEY


@dataclass(frozen=True)
class ShareConfig:
    group_size: int = 2  # consecutive layers per group: 2 ties (0,1), (2,3), ...; a last, shorter group shares too
    init: str = choices("first", "mean", default="first")  # the shared weights: the group's first layer, or the mean

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError(f"share.group_size must be >= 2 (a group of one shares nothing), got {self.group_size}")


def groups_for(n_layers: int, group_size: int) -> list[list[int]]:
    chunks = [list(range(i, min(i + group_size, n_layers))) for i in range(0, n_layers, group_size)]
    return [c for c in chunks if len(c) > 1]


def check(model, config: ShareConfig, ctx: CompressContext | None = None) -> None:
    if ctx is not None and ctx.embedding is not None:  # sentence_models loads with transformers alone: no re-tying
        raise ConfigError(
            "the [share] stage does not apply to sentence-embedding models (their loader would not re-tie the shared "
            "layers); remove [share] from the recipe"
        )
    n = len(Layout(model).layers)
    if ctx is not None and ctx.planned_layers is not None:  # preflight: the count structured pruning will leave
        n = ctx.planned_layers
    if config.group_size > n:
        raise ConfigError(
            f"share.group_size = {config.group_size} but the model has {n} layers after pruning; use at most {n}"
        )


def share_layers_(model, config: ShareConfig, ctx: CompressContext | None = None) -> dict[str, Any]:
    """Tie groups of consecutive layers in place; returns the groups."""
    torch = require("torch")
    check(model, config)
    layout = Layout(model)
    layers = list(layout.layers)
    groups = groups_for(len(layers), config.group_size)
    for g in groups:
        shapes = {tuple((k, tuple(p.shape)) for k, p in layers[i].named_parameters()) for i in g}
        if len(shapes) != 1:
            raise ConfigError(f"layers {g} have different shapes (pruned unevenly) and cannot share weights")
        if config.init == "mean":
            with torch.no_grad():
                members = [dict(layers[i].named_parameters()) for i in g]
                for name, p in members[0].items():
                    p.copy_(torch.stack([m[name] for m in members]).mean(0))
        for i in g[1:]:
            layers[i] = layers[g[0]]
    layout.set_layers(layers)
    setattr(model.config, CONFIG_KEY, groups)
    return {"groups": groups}
