"""The typed part of a Hugging Face `config.json`: the sizes and labels edgebert and transformers build a model from.

transformers trusts these values: a string `hidden_size` or a null `vocab_size` ends in a TypeError deep inside
torch, a negative layer count loads an empty encoder. `parse_model_config` checks them with the same
`config.from_dict` as every other document (one line naming the field); the rest of the file passes through.
BERT/RoBERTa/MPNet and DistilBERT name the sizes differently, hence both spellings, each optional.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebert.config import bounded, extra_fields, from_dict
from edgebert.errors import ConfigError, ModelError


@dataclass(frozen=True)
class ModelConfig:
    model_type: str
    vocab_size: int | None = bounded(None, ge=1)
    hidden_size: int | None = bounded(None, ge=1)
    num_hidden_layers: int | None = bounded(None, ge=1)
    num_attention_heads: int | None = bounded(None, ge=1)
    intermediate_size: int | None = bounded(None, ge=1)
    max_position_embeddings: int | None = bounded(None, ge=1)
    type_vocab_size: int | None = bounded(None, ge=0)
    dim: int | None = bounded(None, ge=1)  # DistilBERT's hidden_size
    n_layers: int | None = bounded(None, ge=1)
    n_heads: int | None = bounded(None, ge=1)
    hidden_dim: int | None = bounded(None, ge=1)
    layer_norm_eps: float | None = bounded(None, gt=0)
    num_labels: int | None = bounded(None, ge=1)
    id2label: dict[str, str] | None = None
    label2id: dict[str, int] | None = None
    extra: dict[str, Any] = extra_fields()


def parse_model_config(cfg: Any, path: Path) -> ModelConfig:
    """The typed config of the model whose config.json is `path`, or a one-line ModelError naming the field."""
    if not isinstance(cfg, dict):
        raise ModelError(f"{path} holds a JSON {type(cfg).__name__}, not an object; it is not a Hugging Face config")
    try:
        return from_dict(ModelConfig, cfg)
    except ConfigError as exc:
        raise ModelError(f"{path}: {exc}; fix the model's config.json or re-save the model") from None
