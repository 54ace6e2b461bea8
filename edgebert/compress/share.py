"""Cross-layer parameter sharing: groups of consecutive layers become one module, run at each of their positions.

The compute is unchanged (every position still runs a layer); the parameters, the safetensors file and the ONNX
file shrink, because each shared weight is stored once. Sharing costs accuracy: fine-tune or distil afterwards
(the recipe's distillation stage does).

How it survives a save and a reload (models.save_model / models.load_classifier call the two helpers below):
`config.json` gains `edgebert_shared_layers` (e.g. [[0, 1], [2, 3]]); the safetensors file holds each group's
first layer only (transformers refuses to save runtime-shared tensors); on load the followers, which
transformers initialised at random because their keys are absent, are replaced by their group's first layer.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from edgebert.compress.common import CompressContext, Layout
from edgebert.config import choices
from edgebert.errors import ConfigError, require

CONFIG_KEY = "edgebert_shared_layers"


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


def check(model, config: ShareConfig) -> None:
    layout = Layout(model)
    n = len(layout.layers)
    if config.group_size > n:
        raise ConfigError(f"share.group_size = {config.group_size} but the model has {n} layers after pruning; use at most {n}")


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


def tie_shared_layers(model) -> None:
    """After loading: point each group's followers at the group's first layer (no-op for unshared models)."""
    groups = getattr(model.config, CONFIG_KEY, None)
    if not groups:
        return
    layout = Layout(model)
    layers = list(layout.layers)
    for g in groups:
        for i in g[1:]:
            layers[i] = layers[g[0]]
    layout.set_layers(layers)


def unique_state_dict(model) -> dict | None:
    """The state dict without the followers' keys (each shared tensor once), or None for an unshared model."""
    groups = getattr(model.config, CONFIG_KEY, None)
    if not groups:
        return None
    layout = Layout(model)
    root = f"{model.base_model_prefix}.{layout.paths['layers']}."
    followers = tuple(f"{root}{i}." for g in groups for i in g[1:])
    return {k: v for k, v in model.state_dict().items() if not k.startswith(followers)}


@contextlib.contextmanager
def quiet_loading(config: dict):
    """Silence transformers' 'weights newly initialized' warning for the followers tie_shared_layers replaces."""
    if not config.get(CONFIG_KEY):
        yield
        return
    logging = require("transformers").logging
    before = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(before)
