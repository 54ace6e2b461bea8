"""Compressing a sentence-embedding model: the stages work on its encoder, and the labels they would use are
replaced by the unpruned teacher's sentence embeddings on unlabelled text.

- Loss: cosine distance, 1 − cos(student embedding, teacher embedding), of the pooled (and, when the model has a
  Normalize module, L2-normalised) sentence vectors. Why cosine rather than MSE: what users do with these vectors
  is compare them by cosine (search, deduplication), and cosine distance ignores a vector's length, which a model
  without Normalize may change freely. For a normalised model the two agree anyway (MSE = 2·(1 − cos)).
- Layer selection (prune_structured) drops, greedily, the layer whose removal raises that loss against the
  model's own intact embeddings least; heads and FFN neurons are ranked by activation magnitude (`importance =
  "activation"`): the first-order Taylor score ("gradient") is zero at the teacher itself, where this loss and its
  gradient vanish, so it cannot rank anything here.
- Dev quality while compressing: the mean cosine of the student's embeddings to the teacher's on the dev texts.
- Output: the sentence-transformers layout again (encoder at the root, modules.json, the source's pooling, Normalize
  and sentence_bert_config.json copied), so `edgebert export` reads it like the source.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgebert.errors import require
from edgebert.sentence_models import SentenceLayout, embed, pool, read_layout, sentence_embedder

DEV_METRIC = "dev_cosine_to_teacher"


@dataclass
class EmbeddingObjective:
    """What the stages need to train and measure a sentence-embedding encoder (CompressContext.embedding)."""

    layout: SentenceLayout
    dev_reference: np.ndarray | None = None  # the teacher's embeddings of the dev texts
    notes: list[str] = field(default_factory=list)

    def sentence(self, token_embeddings, attention_mask):
        """Sentence vectors from the encoder's last hidden state, exactly as the exported graph computes them."""
        torch = require("torch")
        vec = pool(token_embeddings, attention_mask, self.layout.pooling)
        return torch.nn.functional.normalize(vec, p=2.0, dim=1) if self.layout.normalize else vec

    def distance(self, vec, target):
        """The loss per text: cosine distance of sentence vectors to the teacher's, [batch] (module docstring)."""
        torch = require("torch")
        return 1 - torch.nn.functional.cosine_similarity(vec, target, dim=1)

    def loss(self, encoder, enc: dict, target, reduction: str = "mean"):
        """`distance` of `encoder`'s sentence vectors for the encoded texts `enc` to `target` [batch, dim]."""
        dist = self.distance(self.sentence(encoder(**enc, return_dict=False)[0], enc["attention_mask"]), target)
        return dist.sum() if reduction == "sum" else dist.mean()

    def embed(self, encoder, tokenizer, texts, max_length: int) -> np.ndarray:
        was_training = encoder.training
        out = embed(sentence_embedder(encoder, self.layout), tokenizer, texts, max_length)
        encoder.train(was_training)  # sentence_embedder() puts the module in eval mode
        return out

    def dev_cosine(self, encoder, tokenizer, texts, max_length: int) -> float | None:
        if self.dev_reference is None or not len(texts):
            return None
        got = self.embed(encoder, tokenizer, texts, max_length)
        return round(float(np.mean(_cosine(got, self.dev_reference))), 6)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def save_sentence_model(encoder, tokenizer, source_dir: Path, out: Path) -> None:
    """`out` as a sentence-transformers directory: the (compressed) encoder at its root, the source's other modules."""
    from edgebert.models import save_model

    save_model(encoder, tokenizer, out)
    modules = json.loads((Path(source_dir) / "modules.json").read_text(encoding="utf-8"))
    for m in modules:
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer":
            m["path"] = ""  # the encoder was saved at the root
        elif m.get("path") and (Path(source_dir) / m["path"]).is_dir():  # Normalize may have no directory
            shutil.copytree(Path(source_dir) / m["path"], out / m["path"], dirs_exist_ok=True)
    (out / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
    st_cfg = Path(source_dir) / "sentence_bert_config.json"
    if st_cfg.is_file():
        shutil.copyfile(st_cfg, out / "sentence_bert_config.json")
    read_layout(out)  # what export will read: fail here, inside the staging dir, rather than there


def objective(source_dir: Path) -> EmbeddingObjective:
    return EmbeddingObjective(read_layout(source_dir))


def source_weights(source_dir: Path) -> Path:
    from edgebert.models import weights_file

    return weights_file(read_layout(source_dir).transformer_dir)


def describe(obj: EmbeddingObjective) -> dict[str, Any]:
    return {
        "loss": "cosine distance to the teacher's sentence embeddings",
        "pooling": obj.layout.pooling,
        "normalize": obj.layout.normalize,
        "dev_metric": DEV_METRIC,
    }
