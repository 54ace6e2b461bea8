"""Compressing a token classifier (NER): the stages see tagged sentences instead of labelled texts, and every loss,
score and importance is taken per word.

- Data: ner_data.TaggedSentences. The default NER model's CoNLL-2003 train and dev splits; a user's token dataset
  (CoNLL-style or JSONL tokens/tags) split 80/10/10 as `data.split` splits texts.
- Labels per token: each word's tag on its first sub-token, IGNORE (-100) on continuation sub-tokens, specials and
  padding (ner.token_labels, as the default NER model was trained). Structured pruning's gradient importance and its
  layer selection use the cross-entropy on those; activation importance needs no labels.
- Distillation, per word at its first sub-token: T²·KL(teacher/T ‖ student/T) averaged over the real words of the
  batch, plus (1 − kd_weight)·cross-entropy on the gold tags, plus the hidden-state loss when asked. Why the first
  sub-token only, not every sub-token: it is the position the teacher was trained on and the only one predictions
  and entity F1 read (ner_runtime); the teacher's outputs on continuation sub-tokens were never supervised, so
  matching them would spend the student's smaller capacity on numbers nobody uses.
- The teacher's word logits are computed once, in memory, before training (inference mode, length-sorted batches)
  for the sentences the seeded schedule draws: per word, so a teacher that tokenizes differently still lines up
  (a word the teacher did not see, cut by max_length, is left out of the KL).
- Dev quality: entity F1 on the dev sentences (ner.score over ner.predict: first sub-token, seqeval's rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import ner, ner_data, task_types
from edgebert.errors import ConfigError, require
from edgebert.ner_runtime import first_subtokens, predict_words

DEV_METRIC = "dev_entity_f1"


@dataclass
class TaggingObjective:
    """What the stages need to train and measure a token classifier (CompressContext.tagging)."""

    label2id: dict[str, int]
    targets: list[np.ndarray | None] = field(default_factory=list)  # the teacher's word logits per training sentence
    gold: list[list[int]] = field(default_factory=list)  # gold tag ids per training sentence
    _encoders: dict = field(default_factory=dict, repr=False)

    def encode(self, model, tokenizer, sentences, max_length: int) -> tuple[dict, np.ndarray]:
        """(torch inputs, word index of every sub-token [batch, seq], -1 for none) of pre-tokenized sentences."""
        torch = require("torch")
        key = (id(tokenizer), max_length, model.config.model_type)
        if key not in self._encoders:  # a private copy of the fast tokenizer per setting: built once
            self._encoders[key] = ner.word_encoder(model, tokenizer, max_length)
        inputs, word_ids = self._encoders[key]([list(s) for s in sentences])
        return {k: torch.from_numpy(v) for k, v in inputs.items()}, word_ids

    def batches(self, model, sentences: ner_data.TaggedSentences, ctx, samples: int, batch_size: int):
        """As common.batches: a seeded sample, length-sorted, as (inputs, per-token labels [batch, seq])."""
        torch = require("torch")
        rng = np.random.default_rng(ctx.seed)
        idx = rng.permutation(len(sentences))[: min(samples, len(sentences))]
        idx = idx[np.argsort([len(sentences.tokens[i]) for i in idx], kind="stable")]
        tags = sentences.tag_ids(self.label2id)
        for i in range(0, len(idx), batch_size):
            part = idx[i : i + batch_size]
            enc, word_ids = self.encode(model, ctx.tokenizer, [sentences.tokens[j] for j in part], ctx.max_length)
            yield enc, torch.from_numpy(ner.token_labels(word_ids, [tags[j] for j in part]))

    def prepare(self, teacher, teacher_tokenizer, train: ner_data.TaggedSentences, needed: np.ndarray, ctx) -> int:
        """The teacher's word logits for the `needed` training sentences and every sentence's gold tag ids."""
        self.gold = train.tag_ids(self.label2id)
        teacher.eval()
        got = predict_words(
            ner.torch_run(teacher),
            ner.word_encoder(teacher, teacher_tokenizer, ctx.max_length),
            [train.tokens[i] for i in needed],
            ner.o_id(self.label2id),
        )
        self.targets = [None] * len(train)
        for i, logits in zip(needed, got.logits):
            self.targets[i] = logits  # [visible words, labels]; NaN rows: words the teacher did not see
        ctx.log(f"teacher word logits of {len(needed)} training sentences")
        return len(needed)

    def loss(self, logits, word_ids: np.ndarray, idx, temperature: float, kd_weight: float):
        """T²·KL to the teacher plus (1 − kd_weight)·CE on the gold tags, per word at its first sub-token."""
        torch = require("torch")
        functional = torch.nn.functional
        rows, cols, teacher, gold = [], [], [], []
        for r, i in enumerate(idx):
            target = self.targets[i]
            first = first_subtokens(word_ids[r], len(self.gold[i]))
            for w in range(len(first)):
                if first[w] < 0 or target is None or w >= len(target) or not np.isfinite(target[w]).all():
                    continue  # cut by max_length, no sub-token, or unseen by the teacher
                rows.append(r)
                cols.append(first[w])
                teacher.append(target[w])
                gold.append(self.gold[i][w])
        if not rows:  # no word of the batch has a target (each was cut or tokenized to nothing): nothing to learn
            return logits.sum() * 0.0
        student = logits[torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)]
        T = temperature
        kd = (
            functional.kl_div(
                functional.log_softmax(student / T, -1),
                functional.softmax(torch.as_tensor(np.stack(teacher)) / T, -1),
                reduction="batchmean",  # the mean over the batch's words
            )
            * T
            * T
        )
        if kd_weight == 1:
            return kd
        return kd_weight * kd + (1 - kd_weight) * functional.cross_entropy(student, torch.as_tensor(gold))

    def dev_f1(self, model, tokenizer, dev: ner_data.TaggedSentences, max_length: int) -> float | None:
        if not len(dev):
            return None
        was_training = model.training
        preds = ner.predict(model, tokenizer, dev, max_length)  # puts the model in eval mode
        model.train(was_training)
        id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
        return round(float(ner.score(dev, preds, id2label)["entity_f1"]), 6)


def objective(label2id: dict[str, int]) -> TaggingObjective:
    return TaggingObjective(dict(label2id))


def check_teacher(path: Path) -> None:
    """A token classifier distils from a token classifier: any other head's logits do not line up with words."""
    found, why = task_types.detect(path)
    if found is not None and found != task_types.TOKEN_CLASSIFICATION:
        raise ConfigError(
            f"distill.teacher {path} is a {found} model ({why}); a token-classification model distils from a "
            "token-classification teacher with the same tags"
        )


def check_columns(text_column: str, label_column: str) -> None:
    if (text_column, label_column) != ("text", "label"):
        raise ConfigError(
            "--text-column/--label-column do not apply to token-classification data: a token dataset is CoNLL-style "
            "`word ... TAG` lines or JSONL with tokens/tags lists; drop those options"
        )


def resolve_data(model_dir: Path, dataset) -> tuple[dict[str, Any] | None, dict | None]:
    """(train/dev[/test] sentences, the task record to keep): the user's token dataset split 80/10/10, else the
    default NER model's CoNLL-2003 train and dev (test is never looked at while compressing)."""
    from edgebert import data
    from edgebert.export.task_exports import model_manifest

    if dataset is not None:
        return data.split(ner_data.load_token_dataset(dataset)), None  # type: ignore[arg-type]
    task = model_manifest(model_dir).get("task")
    if task and task.get("name") == ner.TASK_NAME:
        return {"train": ner_data.load_conll2003("train"), "dev": ner_data.load_conll2003("dev")}, task
    return None, task


def describe(obj: TaggingObjective) -> dict[str, Any]:
    return {
        "loss": "T²·KL to the teacher's word logits at first sub-tokens (+ CE on gold tags by 1 − kd_weight)",
        "positions": "first sub-token of each word",
        "dev_metric": DEV_METRIC,
    }
