"""What edgebert knows about each supported architecture, in one place (optimum-onnx style: one small class each).

An architecture class holds facts only: the inputs its forward() takes (in ONNX input order), where its encoder keeps
its layers and the Linear layers inside them, which config keys count layers, heads and FFN neurons, whether position
ids start after the pad id, which onnxruntime optimizer model type fuses its graph, and whether its heads can be
pruned. `Layout` gives uniform access to a loaded model's layers through those facts. No torch import at module top.
"""

from __future__ import annotations

from typing import Any, ClassVar

from edgebert.errors import ModelError, require


class Architecture:
    model_type: ClassVar[str]
    # Input names forward() takes, in ONNX input order.
    input_names: ClassVar[tuple[str, ...]] = ("input_ids", "attention_mask")
    # Attribute paths from the base model: the layer list, then inside each layer the attention module, the query
    # Linear, the attention output Linear, the FFN input Linear and the FFN output Linear.
    layers: ClassVar[str] = "encoder.layer"
    attention: ClassVar[str] = "attention"
    query: ClassVar[str] = "attention.self.query"
    attn_out: ClassVar[str] = "attention.output.dense"
    ffn_in: ClassVar[str] = "intermediate.dense"
    ffn_out: ClassVar[str] = "output.dense"
    # config.json keys: number of layers, heads per layer, FFN width, hidden width.
    config_keys: ClassVar[dict[str, str]] = {
        "layers": "num_hidden_layers",
        "heads": "num_attention_heads",
        "ffn": "intermediate_size",
        "hidden": "hidden_size",
    }
    # True: position ids start at pad_token_id + 1 (fairseq heritage), so max_position_embeddings holds fewer tokens.
    positions_after_pad: ClassVar[bool] = False
    # onnxruntime.transformers.optimizer's model_type: its BERT fusions match all four encoders.
    optimizer_model_type: ClassVar[str] = "bert"
    prunable_heads: ClassVar[bool] = True

    @classmethod
    def part_paths(cls) -> dict[str, str]:
        return {k: getattr(cls, k) for k in ("layers", "attention", "query", "attn_out", "ffn_in", "ffn_out")}

    @classmethod
    def position_limit(cls, config: Any) -> int:
        """The longest input the model's position embeddings allow."""
        offset = config.pad_token_id + 1 if cls.positions_after_pad else 0
        return int(getattr(config, "max_position_embeddings", 512)) - offset


class BERT(Architecture):
    model_type = "bert"
    input_names = ("input_ids", "attention_mask", "token_type_ids")


class DistilBERT(Architecture):
    model_type = "distilbert"
    layers = "transformer.layer"
    query = "attention.q_lin"
    attn_out = "attention.out_lin"
    ffn_in = "ffn.lin1"
    ffn_out = "ffn.lin2"
    config_keys = {"layers": "n_layers", "heads": "n_heads", "ffn": "hidden_dim", "hidden": "dim"}


class RoBERTa(Architecture):
    model_type = "roberta"
    positions_after_pad = True


class MPNet(Architecture):
    model_type = "mpnet"
    query = "attention.attn.q"
    attn_out = "attention.attn.o"
    positions_after_pad = True
    # MPNet adds one relative-position bias per head of the *model* to every layer's scores: a layer with fewer
    # heads no longer matches it (transformers' MPNet prune_heads leaves the model broken).
    prunable_heads = False


ARCHITECTURES: dict[str, type[Architecture]] = {a.model_type: a for a in (BERT, DistilBERT, RoBERTa, MPNet)}
SUPPORTED_MODEL_TYPES = tuple(ARCHITECTURES)


def architecture(model_type: str | None) -> type[Architecture]:
    try:
        return ARCHITECTURES[model_type]  # type: ignore[index]
    except KeyError:
        raise ModelError(f"edgebert supports {', '.join(SUPPORTED_MODEL_TYPES)} models, not {model_type!r}") from None


def _get(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _set(obj, path: str, value) -> None:
    head, _, last = path.rpartition(".")
    setattr(_get(obj, head) if head else obj, last, value)


class Layout:
    """Uniform access to a loaded encoder's layers, whatever the architecture calls them."""

    def __init__(self, model):
        mt = model.config.model_type
        if mt not in ARCHITECTURES:
            raise ModelError(f"compression supports {', '.join(ARCHITECTURES)} models, not {mt!r}")
        self.arch = ARCHITECTURES[mt]
        self.model = model
        self.base = model.base_model
        self.paths = self.arch.part_paths()
        self.keys = self.arch.config_keys

    @property
    def layers(self):
        return _get(self.base, self.paths["layers"])

    def set_layers(self, modules: list) -> None:
        torch = require("torch")
        _set(self.base, self.paths["layers"], torch.nn.ModuleList(modules))
        setattr(self.model.config, self.keys["layers"], len(modules))

    def part(self, layer, name: str):
        return _get(layer, self.paths[name])

    def set_part(self, layer, name: str, module) -> None:
        _set(layer, self.paths[name], module)

    @property
    def head_size(self) -> int:
        cfg = self.model.config
        return getattr(cfg, self.keys["hidden"]) // getattr(cfg, self.keys["heads"])

    @property
    def num_heads(self) -> int:
        return getattr(self.model.config, self.keys["heads"])

    def heads_in(self, layer) -> list[int]:
        """Original indices of the heads still in `layer`, in the order their columns appear."""
        pruned = getattr(self.part(layer, "attention"), "pruned_heads", set())
        return [h for h in range(self.num_heads) if h not in pruned]

    def linear_weights(self) -> list:
        """Every distinct Linear inside the encoder layers (a shared layer's Linears once)."""
        torch = require("torch")
        seen, out = set(), []
        for layer in self.layers:
            for m in layer.modules():
                if isinstance(m, torch.nn.Linear) and id(m) not in seen:
                    seen.add(id(m))
                    out.append(m)
        return out
