"""Knowledge distillation: the pruned model (student) learns to match the unpruned one (teacher).

loss = kd_weight · T² · KL(softmax(teacher/T) ‖ softmax(student/T))      (Hinton et al. 2015; T² keeps gradients
     + (1 − kd_weight) · cross-entropy(student, labels)                   comparable across temperatures)
     + hidden_weight · mean MSE(student layer i output, teacher layer map[i] output)   (optional, equal widths only)

The teacher is fixed, so its logits are computed once, before training, for the texts the seeded batch schedule
draws, and cached on disk, keyed by the teacher's weights, the texts and max_length
(`~/.cache/edgebert/teacher-logits/<key>.npy`, read back with allow_pickle=False): each step then runs only the
student, and the next trial of a search pays only for texts no earlier run drew.
The teacher reads the texts through its own tokenizer, so a teacher of another family (MPNet teaching a BERT) works.
The hidden-state loss needs the teacher's activations per batch, so with it the teacher runs online; it needs the
same token positions and widths, so it is skipped (with a note) for a teacher that tokenizes differently or is wider.
A sentence-embedding model (ctx.embedding) has no logits and no labels: its loss is the cosine distance of its
sentence vectors to the teacher's on the same (unlabelled) training texts (compress/embedding.py says why cosine);
temperature and kd_weight do not apply, and the teacher's embeddings are computed once, in memory, before training.
A token classifier (ctx.tagging) distils per word: the same KL and cross-entropy, taken at each word's first
sub-token, against teacher word logits computed once, in memory (compress/tagging.py says why those positions).
`kd_weight = 0` is plain fine-tuning on the labels: the baseline distillation is measured against (same steps).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import bundle, data, models
from edgebert.compress.augment import augment_texts
from edgebert.compress.common import CompressContext, dev_accuracy, require_data
from edgebert.config import choices
from edgebert.errors import ConfigError, require
from edgebert.tasks import cache_dir, optimizer_step, warmup_linear_decay


@dataclass(frozen=True)
class DistillConfig:
    steps: int = 300  # optimizer steps (upper bound)
    minutes: float | None = None  # wall-clock bound; training stops at whichever bound comes first
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    temperature: float = 2.0
    kd_weight: float = 0.5  # weight of the KL term; 1 - kd_weight goes to cross-entropy on the labels
    hidden_weight: float = 0.0  # weight of the hidden-state MSE (0: off; on makes the teacher run every step)
    teacher: str | None = None  # teacher model directory; default: the unpruned source model
    # bf16: the student's forward pass and loss under bfloat16 autocast (weights, gradients and the optimizer stay
    # fp32). Pays off only where the CPU multiplies bf16 natively (Intel AMX: a MiniLM-sized matmul ran 4.4x faster
    # than fp32 on 2 cores); elsewhere it is emulated and slower. Numerics differ from fp32, so the recipe says which.
    precision: str = choices("fp32", "bf16", default="fp32")
    # Perturbed copies of each training text (compress/augment.py), trained on the teacher's logits alone: the
    # teacher's view of texts it was not fine-tuned on. Sequence classification only; 0: the training texts alone.
    augment: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("distill.steps and distill.batch_size must be >= 1")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError("distill.minutes must be > 0")
        if not self.learning_rate > 0 or not self.temperature > 0:
            raise ValueError("distill.learning_rate and distill.temperature must be > 0")
        if not 0 <= self.kd_weight <= 1 or not 0 <= self.warmup_ratio < 1 or self.hidden_weight < 0:
            raise ValueError("distill.kd_weight must be in [0, 1], warmup_ratio in [0, 1), hidden_weight >= 0")
        if self.augment < 0:
            raise ValueError("distill.augment must be >= 0 (copies of each training text)")


def teacher_dir(config: DistillConfig, ctx: CompressContext) -> Path:
    if config.teacher is not None:
        return Path(config.teacher)
    if ctx.teacher_dir is None:
        raise ConfigError("distill needs a teacher: set distill.teacher to a model directory")
    return ctx.teacher_dir


def check(model, config: DistillConfig, ctx: CompressContext) -> None:
    """One-line errors before any work: no training data, a missing teacher, a teacher with other labels."""
    require_data(ctx, "distillation")
    path = teacher_dir(config, ctx)
    if config.augment and (ctx.embedding is not None or ctx.tagging is not None):
        raise ConfigError("distill.augment applies to sequence classification only; set it to 0 for this task")
    if ctx.embedding is not None:
        from edgebert.sentence_models import read_layout

        layout = read_layout(path)  # a teacher must be a sentence-transformers directory too (else one line)
        width = models.read_config(layout.transformer_dir).get("hidden_size")
        if width != model.config.hidden_size:  # the loss compares the two vectors directly
            raise ConfigError(
                f"teacher {path} gives {width}-dimensional embeddings, the student {model.config.hidden_size}; "
                "distil from a sentence-embedding model of the same width"
            )
        return
    if ctx.tagging is not None:
        from edgebert.compress.tagging import check_teacher

        check_teacher(path)
    cfg = models.read_config(path)
    teacher_labels = {str(v): int(k) for k, v in (cfg.get("id2label") or {}).items()}
    if teacher_labels != ctx.label2id:
        raise ConfigError(
            f"teacher {path} predicts labels {sorted(teacher_labels)}, the student {sorted(ctx.label2id)}; "
            "distil from a teacher trained on the same label set"
        )


def teacher_logits(
    path: Path,
    texts: data.LabelledTexts,
    needed: np.ndarray,
    ctx: CompressContext,
    loaded=None,
    precision: str = "fp32",
) -> tuple[np.ndarray, int]:
    """Teacher logits for the training texts (rows the schedule never draws stay NaN); (logits, rows computed now).
    `loaded`: the teacher's (model, tokenizer) when the caller has them already. `precision` "bf16" runs the teacher
    under bf16 autocast (a 110M MPNet teacher: 20 against 43 ms a text on 2 AMX cores; logits within 0.06).

    The cache holds one row per training text, filled as trials need them: a longer run later computes only
    the texts an earlier run did not draw.
    """
    tag = "" if precision == "fp32" else f" {precision}"
    key = hashlib.sha256(
        f"{bundle.sha256_file(models.weights_file(path))} {data.dataset_digest(texts)} {ctx.max_length}{tag}".encode()
    ).hexdigest()[:24]
    cached = cache_dir() / "teacher-logits" / f"{key}.npy"
    logits = None
    if cached.is_file():
        try:
            logits = np.load(cached, allow_pickle=False)
        except (ValueError, OSError):
            logits = None  # a damaged cache entry is recomputed
    if logits is None or logits.shape != (len(texts), len(ctx.label2id)):
        logits = np.full((len(texts), len(ctx.label2id)), np.nan, dtype=np.float32)
    missing = needed[np.isnan(logits[needed, 0])]
    if len(missing):
        teacher, tokenizer = loaded or models.load_classifier(path)
        ctx.log(f"teacher logits on {len(missing)} training texts (cached for later runs)")
        torch = require("torch")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits[missing] = models.predict_logits(
                teacher, tokenizer, [texts.texts[i] for i in missing], max_length=ctx.max_length
            )
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.npy")
        np.save(tmp, logits, allow_pickle=False)
        tmp.replace(cached)
    return logits, len(missing)


def batch_schedule(train: data.LabelledTexts, config: DistillConfig, seed: int, group: int = 16) -> list[np.ndarray]:
    """Random batches, length-grouped: every `group` steps' texts are drawn together, sorted by length and cut into
    batches (in random order). Batches are padded to their longest text, so similar lengths mean less padding:
    about a third fewer token positions computed on Rotten Tomatoes, with the same texts seen."""
    rng = np.random.default_rng(seed)
    size = min(config.batch_size, len(train))
    lengths = np.array([len(t) for t in train.texts])
    out: list[np.ndarray] = []
    while len(out) < config.steps:
        n = min(group, config.steps - len(out))
        if n * size <= len(train):  # no text twice in a group, so none twice in a batch
            pool = rng.choice(len(train), size=n * size, replace=False)
            pool = pool[np.argsort(lengths[pool], kind="stable")]
        else:  # a training set too small to group: one draw per batch, each without repeats
            pool = np.concatenate([rng.choice(len(train), size=size, replace=False) for _ in range(n)])
        out.extend(pool[i * size : (i + 1) * size] for i in rng.permutation(n))
    return out


def _layer_pairs(student, teacher, ctx: CompressContext, same_source: bool) -> list[tuple[int, int]]:
    """(student hidden-state index, teacher hidden-state index): embeddings to embeddings, each layer to its origin."""
    s, t = student.config.num_hidden_layers, teacher.config.num_hidden_layers
    if same_source and ctx.layer_map is not None and len(ctx.layer_map) == s:
        origin = ctx.layer_map
    else:  # spread the student's layers evenly over the teacher's
        origin = [round((i + 1) * t / s) - 1 for i in range(s)]
    return [(0, 0)] + [(i + 1, o + 1) for i, o in enumerate(origin)]


def _computed_key(emb, tag) -> str:
    if emb is not None:
        return "teacher_embeddings_computed"
    return "teacher_word_logits_computed" if tag is not None else "teacher_logits_computed"


def _precision(torch, config: DistillConfig):
    """The context a training step's forward pass and loss run in: bf16 autocast, or nothing.

    Under bf16 the attention runs on PyTorch's math kernel: the fused (flash) attention's bf16 backward took 146 ms of
    a ~330 ms step on 2 cores, the math kernel's 7 ms."""
    import contextlib

    if config.precision != "bf16":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    stack = contextlib.ExitStack()
    stack.enter_context(sdpa_kernel(SDPBackend.MATH))
    stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
    return stack


def distill_(model, config: DistillConfig, ctx: CompressContext) -> dict[str, Any]:
    """Train `model` in place toward the teacher; returns what ran (steps, seconds, losses, teacher)."""
    torch = require("torch")
    functional = torch.nn.functional
    check(model, config, ctx)
    train = require_data(ctx, "distillation")
    path = teacher_dir(config, ctx)
    started = time.time()
    emb, tag = ctx.embedding, ctx.tagging
    # The hidden-state loss runs the teacher every step, so only then is it loaded here: (model, tokenizer).
    # A sentence-embedding teacher is always loaded (its embeddings are computed here); its encoder is the teacher.
    if emb is not None:
        from edgebert.sentence_models import load_sentence_model

        embedder, teacher_tokenizer = load_sentence_model(path)
        loaded = (embedder.encoder, teacher_tokenizer)
    elif tag is not None:  # its word logits are computed here, before training
        from edgebert.ner import load_tagger

        loaded = load_tagger(path)
    else:
        loaded = models.load_classifier(path) if config.hidden_weight > 0 else None
    teacher = loaded[0] if loaded else None
    use_hidden = loaded is not None and config.hidden_weight > 0
    notes = []
    if loaded and teacher.config.hidden_size != model.config.hidden_size:
        notes.append("hidden-state loss skipped: teacher and student hidden sizes differ")
        use_hidden = False
    elif loaded and loaded[1].get_vocab() != ctx.tokenizer.get_vocab():
        notes.append("hidden-state loss skipped: teacher and student tokenize differently (token positions differ)")
        use_hidden = False
    labelled = len(train)
    if config.augment:  # the copies follow the training texts; their label is the teacher's alone (no cross-entropy)
        extra = augment_texts(train.texts, config.augment)
        train = data.LabelledTexts(train.texts + tuple(extra), train.labels + ("",) * len(extra), train.name)
    # The whole batch schedule is drawn up front (seeded), so only the texts it uses need teacher logits.
    schedule = batch_schedule(train, config, ctx.seed)
    needed = np.unique(np.concatenate(schedule))
    if emb is not None:  # teacher embeddings (rows the schedule never draws stay zero): the targets
        from edgebert.sentence_models import embed

        # the teacher's own pipeline (its pooling and normalisation, which may differ from the student's)
        vecs = embed(embedder, loaded[1], [train.texts[i] for i in needed], ctx.max_length)
        t_out = np.zeros((len(train), vecs.shape[1]), dtype=np.float32)
        t_out[needed], computed = vecs, len(needed)
        ctx.log(f"teacher embeddings of {computed} training texts")
        y_all = None
    elif tag is not None:  # per-word targets live in the objective (sentences have different lengths)
        computed = tag.prepare(teacher, loaded[1], train, needed, ctx)
        t_out, y_all = np.zeros(0, dtype=np.float32), None
    else:
        t_out, computed = teacher_logits(path, train, needed, ctx, loaded, config.precision)
        ids = train.take(range(labelled)).label_ids(ctx.label2id)
        y_all = torch.as_tensor(np.concatenate([ids, np.full(len(train) - labelled, -100, dtype=np.int64)]))
    pairs = _layer_pairs(model, teacher, ctx, path == ctx.teacher_dir) if use_hidden else []
    t_out = torch.as_tensor(t_out)
    teacher_seconds = time.time() - started

    torch.manual_seed(ctx.seed)
    # fused: the same AdamW update in one kernel; on 2 cores the unfused step over a MiniLM's 22.7M parameters took
    # 106 ms of a ~400 ms distillation step, fused 12 ms (the word embeddings alone are half the parameters)
    optim = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01, fused=True)
    warmup = max(1, int(config.warmup_ratio * config.steps))
    sched = warmup_linear_decay(optim, warmup, config.steps)
    T, deadline = config.temperature, (started + 60 * config.minutes) if config.minutes else None
    losses: list[float] = []
    first_step: float | None = None
    model.train()
    advance = ctx.progress("distilling", config.steps) if ctx.progress is not None else None
    for step in range(config.steps):
        if deadline is not None and time.time() > deadline:
            break
        idx, step_started = schedule[step], time.time()
        if tag is not None:
            enc, word_ids = tag.encode(model, ctx.tokenizer, [train.tokens[i] for i in idx], ctx.max_length)
        else:
            enc = models.encode(model, ctx.tokenizer, [train.texts[i] for i in idx], ctx.max_length)
        with _precision(torch, config):  # the forward passes; the losses below are taken in fp32 (.float())
            out = model(**enc, output_hidden_states=use_hidden)
            if use_hidden:
                with torch.no_grad():
                    t_hidden = teacher(**enc, output_hidden_states=True).hidden_states
        if emb is not None:
            loss = emb.distance(emb.sentence(out.last_hidden_state.float(), enc["attention_mask"]), t_out[idx]).mean()
        elif tag is not None:
            loss = tag.loss(out.logits.float(), word_ids, idx, T, config.kd_weight)
        else:
            kd = (
                functional.kl_div(
                    functional.log_softmax(out.logits.float() / T, -1),
                    functional.softmax(t_out[idx] / T, -1),
                    reduction="batchmean",
                )
                * T
                * T
            )
            y = y_all[idx]
            has_label = y >= 0  # augmented copies have none
            ce = functional.cross_entropy(out.logits.float()[has_label], y[has_label]) if has_label.any() else 0.0
            loss = config.kd_weight * kd + (1 - config.kd_weight) * ce
        if use_hidden:
            mask = enc["attention_mask"].unsqueeze(-1).float()
            mse = sum(
                ((out.hidden_states[s].float() - t_hidden[t].float()) ** 2 * mask).sum()
                / (mask.sum() * out.hidden_states[s].shape[-1])
                for s, t in pairs
            ) / len(pairs)
            loss = loss + config.hidden_weight * mse
        losses.append(optimizer_step(model, loss, optim, sched))
        if step == 0:
            first_step = time.time() - step_started
        if advance is not None:
            advance(1)
        if (
            ctx.checkpoint is not None
            and ctx.checkpoint_every
            and (step + 1) % ctx.checkpoint_every == 0
            and step + 1 < config.steps
        ):
            model.eval()
            ctx.checkpoint(step + 1, dev_accuracy(model, ctx))
            model.train()
    model.eval()
    details: dict[str, Any] = {
        "teacher": str(Path(path).absolute()),
        "steps_run": len(losses),
        "stopped_by": "steps" if len(losses) == config.steps else "minutes",
        _computed_key(emb, tag): computed,
        "augmented_texts": len(train) - labelled,
        "teacher_seconds": round(teacher_seconds, 1),
        # the first step sets up the kernels (edgebert run's rate estimate leaves it out, search_trial.distill_rate)
        "first_step_seconds": None if first_step is None else round(first_step, 3),
        "loss_first": round(float(np.mean(losses[:10])), 4) if losses else None,
        "loss_last": round(float(np.mean(losses[-10:])), 4) if losses else None,
        "hidden_pairs": pairs or None,
    }
    if notes:
        details["notes"] = notes
    return details
