"""What every compression method shares: the run's data context, where each architecture keeps its layers, and the
measurements a stage record holds (parameters, multiply-accumulates per token, sparsity, dev accuracy).

MACs per token (dense multiply-accumulates, the work a CPU kernel does; embeddings are lookups and cost none):
    Σ over executed layers [ Σ Linear in·out  +  2·L·A ]  +  Σ Linear outside the layers in·out / L
where L is the sequence length (`seq_len`, default 128), A the layer's attention width (kept heads × head size):
Q·Kᵀ and softmax·V each cost L·A per token. The Linear layers outside the encoder layers (pooler, classifier)
run once per sequence, hence the /L. A layer shared by several positions is executed, and counted, at each one.
Unstructured zeros do not reduce this figure: dense kernels multiply them anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebert import models
from edgebert.architectures import Layout
from edgebert.data import LabelledTexts
from edgebert.errors import ConfigError, require

MACS_SEQ_LEN = 128
Log = Callable[[str], None]
# progress(description, total) -> advance(n): the caller draws (the CLI a rich bar), the library only counts steps.
# The same protocol as bench_bundle's `progress`.
Progress = Callable[[str, "int | None"], Callable[[int], None]]


@dataclass
class CompressContext:
    """Data and settings a method may need beyond its own config (mutable: stages record what they changed)."""

    tokenizer: Any
    label2id: dict[str, int]
    train: LabelledTexts | None = None
    dev: LabelledTexts | None = None
    teacher_dir: Path | None = None  # the unpruned source model: distillation's default teacher
    max_length: int = 128
    seed: int = 0
    log: Log = field(default=lambda msg: None)
    progress: Progress | None = None  # training steps are reported here (None: silent)
    # layer_map[i] = index, in the source model, of the layer now at position i (distillation's hidden-state loss).
    layer_map: list[int] | None = None
    # The stages the recipe runs after the current one (prune_unstructured keeps its masks when training follows).
    later_stages: tuple[str, ...] = ()
    # Preflight only: the layers structured pruning will leave, so a later stage's check judges the model it will see.
    planned_layers: int | None = None
    # Called as checkpoint(steps_run, dev_accuracy) every `checkpoint_every` distillation steps: how a search watches
    # a candidate learn and stops it (by raising) when it cannot reach the budget.
    checkpoint: Callable[[int, float | None], None] | None = None
    checkpoint_every: int = 0
    # A sentence-embedding model (compress/embedding.py): the stages get its encoder, and the teacher's embeddings
    # replace the labels. None: a classifier.
    embedding: Any = None
    # A token classifier (compress/tagging.py): the data are tagged sentences, labels and losses are per word.
    # None: a classifier (or a sentence-embedding model).
    tagging: Any = None


def check_ratio(name: str, value: float) -> None:
    """Ratios are fractions of a structure to remove: 0 keeps all, 1 would remove everything."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


# Where each architecture keeps its parts: edgebert/architectures.py (Layout is re-exported for the methods).


# --- measurements ---------------------------------------------------------------------------------------------------
def macs_per_token(model, seq_len: int = MACS_SEQ_LEN) -> int:
    """Dense multiply-accumulates per token at `seq_len` (formula in the module docstring)."""
    torch = require("torch")
    layout = Layout(model)
    inside, total = set(), 0.0
    for layer in layout.layers:
        for m in layer.modules():
            if isinstance(m, torch.nn.Linear):
                inside.add(id(m))
                total += m.in_features * m.out_features
        total += 2 * seq_len * layout.part(layer, "query").out_features
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and id(m) not in inside:
            total += m.in_features * m.out_features / seq_len
    return int(round(total))


def count_parameters(model) -> int:
    return models.count_parameters(model)


def linear_sparsity(model) -> float:
    """Fraction of zeros in the encoder layers' Linear weights (what unstructured pruning targets)."""
    zeros = total = 0
    for m in Layout(model).linear_weights():
        w = m.weight.detach()
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros / total if total else 0.0


def shape_summary(model) -> dict[str, Any]:
    """Layers, heads per layer and FFN width per layer: what structured pruning changed, at a glance."""
    layout = Layout(model)
    return {
        "layers": len(layout.layers),
        "heads": [len(layout.heads_in(layer)) for layer in layout.layers],
        "ffn": [layout.part(layer, "ffn_in").out_features for layer in layout.layers],
    }


def dev_accuracy(model, ctx: CompressContext) -> float | None:
    """Accuracy on the dev split at the run's max_length; None when there is no dev split. For a sentence-embedding
    model, the mean cosine of its dev embeddings to the teacher's (compress/embedding.py)."""
    if ctx.dev is None or len(ctx.dev) == 0:
        return None
    if ctx.embedding is not None:
        return ctx.embedding.dev_cosine(model, ctx.tokenizer, ctx.dev.texts, ctx.max_length)
    if ctx.tagging is not None:  # entity F1 on the dev sentences (compress/tagging.py)
        return ctx.tagging.dev_f1(model, ctx.tokenizer, ctx.dev, ctx.max_length)
    y = ctx.dev.label_ids(ctx.label2id)
    pred = models.predict_logits(model, ctx.tokenizer, ctx.dev.texts, max_length=ctx.max_length).argmax(1)
    return float((pred == y).mean())


def source_dev_accuracy(model, ctx: CompressContext, weights_sha256: str) -> float | None:
    """`dev_accuracy` of a model as read from weights with this sha256, cached: the same weights, labels, dev texts
    and max_length give the same figure, and `edgebert run` compresses the same source once per trial (6.5 s of each
    trial's ~55 on a 2-core machine for MiniLM), then distils each shape it wrote (whose figure compress measured
    as it wrote it: `remember_dev_accuracy`)."""
    import json

    cached = _dev_cache(ctx, weights_sha256)
    if cached is None:
        return None
    try:
        return float(json.loads(cached.read_text())["value"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not measured yet, or a damaged entry: measured again
    value = dev_accuracy(model, ctx)
    remember_dev_accuracy(ctx, weights_sha256, value)
    return value


def remember_dev_accuracy(ctx: CompressContext, weights_sha256: str, value: float | None) -> None:
    """Cache the dev figure of the model whose weights have this sha256 (see source_dev_accuracy). compress does not
    record its output's figure for a sentence-embedding model: that figure is the cosine to the teacher it was
    compressed from, while as a source the model is its own reference (the key's task part keeps the two apart
    from the classifiers' figures anyway)."""
    import json
    import os

    cached = _dev_cache(ctx, weights_sha256)
    if cached is None or value is None:
        return
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"value": value}) + "\n")
    tmp.replace(cached)


def _dev_cache(ctx: CompressContext, weights_sha256: str) -> Path | None:
    """The cache entry of a dev figure: keyed by the weights, the dev texts, max_length, the task and the labels."""
    import hashlib
    import json

    from edgebert import ner_data
    from edgebert.config import cache_dir
    from edgebert.data import dataset_digest

    if ctx.dev is None or len(ctx.dev) == 0:
        return None
    kind = "embedding" if ctx.embedding is not None else "tagging" if ctx.tagging is not None else "labels"
    texts = ner_data.digest(ctx.dev) if ctx.tagging is not None else dataset_digest(ctx.dev)
    labels = json.dumps(ctx.label2id, sort_keys=True)
    key = hashlib.sha256(f"{weights_sha256} {texts} {ctx.max_length} {kind} {labels}".encode()).hexdigest()[:24]
    return cache_dir() / "dev-metric" / f"{key}.json"


def batches(model, texts: LabelledTexts, ctx: CompressContext, samples: int, batch_size: int):
    """A seeded sample of `samples` texts as (encoded inputs, label tensor) batches, sorted by length (little padding).
    Unlabelled use (a sentence-embedding model): the tensor holds the texts' indices in `texts` instead.
    A token classifier: tagged sentences, and the labels per token [batch, seq] (compress/tagging.py)."""
    torch = require("torch")
    if ctx.tagging is not None:
        yield from ctx.tagging.batches(model, texts, ctx, samples, batch_size)
        return
    rng = np.random.default_rng(ctx.seed)
    idx = rng.permutation(len(texts))[: min(samples, len(texts))]
    idx = idx[np.argsort([len(texts.texts[i]) for i in idx], kind="stable")]
    y = texts.label_ids(ctx.label2id) if ctx.embedding is None else np.arange(len(texts))
    for i in range(0, len(idx), batch_size):
        part = idx[i : i + batch_size]
        yield (
            models.encode(model, ctx.tokenizer, [texts.texts[j] for j in part], ctx.max_length),
            torch.as_tensor(y[part]),
        )


def label_loss(logits, y, reduction: str = "sum"):
    """Cross-entropy on labels: logits [batch, labels] against one label per text, or [batch, seq, labels] against
    one per token (a token classifier's; positions labelled -100, continuation sub-tokens and padding, are skipped)."""
    torch = require("torch")
    flat = logits.reshape(-1, logits.shape[-1])
    return torch.nn.functional.cross_entropy(flat, y.reshape(-1), ignore_index=-100, reduction=reduction)


def require_data(ctx: CompressContext, what: str) -> LabelledTexts:
    if ctx.train is None or len(ctx.train) == 0:
        raise ConfigError(f"{what} needs training data; pass --dataset FILE (or use the default task model)")
    return ctx.train
