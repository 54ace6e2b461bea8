"""Export a token classifier (NER): logits [batch, seq, labels], validated word by word (the model side of the
token-classification task, registered in task_exports.EXPORT_TASKS).

export_bundle builds the graph as for any task (torch.onnx with a dynamic sequence axis on a per-token output, the
target's optimizer, fp16 or int8). Parity runs the staged bundle through the
runtime's word path (tokenizers with `is_pretokenized=True`, `Encoding.word_ids`, first sub-token per word) on the
evaluation sentences and compares with the PyTorch source: the share of words tagged alike (the target's
`min_token_agreement`) and the largest |Δlogit| over the words' logits (`max_abs_token_logit_diff`, else
`max_abs_logit_diff`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import ner_data, ner_metric, task_types
from edgebert.errors import ParityError, UserError
from edgebert.export.parity import MIN_SENTENCES
from edgebert.export.task_exports import EXPORT_TASKS, EvalData, ExportTask, Log, model_manifest
from edgebert.ner_runtime import WordEncoder, WordPredictions, predict_words
from edgebert.targets import Target


@dataclass(frozen=True)
class TokenParity:
    sentences: int
    words: int
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    token_agreement: float
    label_agreement: float  # = token_agreement: the field every parity record has
    precision: str
    tolerance_max_abs_logit_diff: float
    tolerance_min_token_agreement: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare_words(ref: WordPredictions, got: WordPredictions, tol, precision: str) -> TokenParity:
    """Word-level parity of two taggings of the same sentences (same tokenizer, so the same visible words)."""
    if ref.visible != got.visible:
        raise ParityError("the bundle's tokenizer keeps other words than the source's; re-export")
    words = sum(ref.visible)
    diffs = [np.abs(a.astype(np.float64) - b.astype(np.float64)) for a, b in zip(ref.logits, got.logits) if a.size]
    flat = np.concatenate([d[np.isfinite(d)] for d in diffs]) if diffs else np.zeros(0)
    finite = all(np.isfinite(b[np.isfinite(a)]).all() for a, b in zip(ref.logits, got.logits))
    agreement = ner_metric.tag_agreement(ref.labels, got.labels) if words else 0.0
    max_diff = float(flat.max()) if flat.size else 0.0
    limit, logit_limit = tol.token_agreement, tol.token_logit_diff
    ok = bool(finite and max_diff <= logit_limit and agreement >= limit)
    mean = float(flat.mean()) if flat.size else 0.0
    return TokenParity(len(ref.labels), words, max_diff, mean, agreement, agreement, precision, logit_limit, limit, ok)


def check(result: TokenParity, what: str) -> None:
    if result.sentences < MIN_SENTENCES:
        raise ParityError(
            f"{what}: parity needs at least {MIN_SENTENCES} evaluation sentences, got {result.sentences}; "
            "pass a larger --dataset"
        )
    if not result.passed:
        raise ParityError(
            f"{what} failed parity on {result.words} words of {result.sentences} sentences ({result.precision}): "
            f"max |logit diff| {result.max_abs_logit_diff:.4g} (limit {result.tolerance_max_abs_logit_diff:g}), "
            f"token agreement {result.token_agreement:.2%} (need {result.tolerance_min_token_agreement:.2%}); "
            "no bundle was written"
        )


class TokenClassificationExport(ExportTask):
    """A Hugging Face *ForTokenClassification model; the default is MiniLM fine-tuned on CoNLL-2003 (ner.py)."""

    name = task_types.TOKEN_CLASSIFICATION

    def default_model_dir(self, log: Log | None = None, progress=None) -> Path:
        from edgebert import ner

        if log:
            log("using the default NER model (all-MiniLM-L6-v2 fine-tuned on CoNLL-2003)")
        return ner.default_model_dir(progress=progress)

    def load(self, source_dir: Path):
        from edgebert import ner

        return ner.load_tagger(source_dir)

    def eval_data(
        self, source_dir: Path, dataset, text_column: str, label_column: str, eval_split: str, model=None
    ) -> EvalData:
        """A user's token dataset whole (CoNLL-style or JSONL tokens/tags; the column options do not apply), or the
        default NER model's CoNLL-2003 split (calibration for static int8: 512 sentences of dev, or train)."""
        if dataset is not None:
            ds = ner_data.load_token_dataset(dataset)
            return EvalData(ds, ds, split="all")  # type: ignore[arg-type]
        task = model_manifest(source_dir).get("task")
        if task and task.get("name") == "conll2003":
            calibration = "dev" if eval_split == "test" else "train"
            return EvalData(
                ner_data.load_conll2003(eval_split),  # type: ignore[arg-type]
                ner_data.load_conll2003(calibration).head(512),  # type: ignore[arg-type]
                split=eval_split,
                task=task,
            )
        raise UserError(
            f"{source_dir} is not the default NER model; pass --dataset FILE with tagged evaluation sentences "
            "(CoNLL-style `word ... TAG` lines, or JSONL with tokens/tags lists)"
        )

    def check(self, model, evals: EvalData) -> None:
        from edgebert.models import label2id

        self.id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
        evals.evaluation.tag_ids(label2id(model))  # type: ignore[attr-defined]  # a tag the model lacks: one line

    def reference(self, model, tokenizer, evals: EvalData, max_length: int) -> WordPredictions:  # type: ignore[override]
        from edgebert import ner

        self.max_length = max_length
        return ner.predict(model, tokenizer, evals.evaluation, max_length)  # type: ignore[arg-type]

    def bundle_outputs(self, runner, encoder, evals: EvalData) -> WordPredictions:
        """Word predictions of the staged bundle: the runtime encoder's tokenizer (truncation and padding as the
        manifest says) with pre-tokenized words, the bundle's runner, first sub-token per word."""
        o_id = {v: k for k, v in self.id2label.items()}.get("O", 0)
        words = WordEncoder(encoder.tokenizer, encoder.input_names)
        return predict_words(runner, words, evals.evaluation.tokens, o_id)  # type: ignore[attr-defined]

    def digest(self, evaluation) -> str:
        return ner_data.digest(evaluation)

    def source_info(self, model) -> dict[str, Any]:
        cfg = model.config
        self.id2label = {int(k): str(v) for k, v in cfg.id2label.items()}
        return {"num_labels": cfg.num_labels, "id2label": {str(k): v for k, v in self.id2label.items()}}

    def parity(self, reference, got, tgt: Target, what: str) -> TokenParity:  # type: ignore[override]
        result = compare_words(reference, got, tgt.tolerance(tgt.precision), tgt.precision)
        check(result, what)
        return result

    def reference_section(self, model, evals: EvalData, reference, got) -> dict[str, Any]:
        from edgebert import ner

        sentences = evals.evaluation
        source, exported = ner.score(sentences, reference, self.id2label), ner.score(sentences, got, self.id2label)
        return {
            "words": sentences.words,  # type: ignore[attr-defined]
            "predictions": [p.tolist() for p in reference.labels],  # per sentence, a label id per visible word
            "entity_f1": source["entity_f1"],
            "bundle_entity_f1": exported["entity_f1"],
            "token_accuracy": source["token_accuracy"],
            "truncation": reference.truncation(),
        }

    def passed_line(self, result) -> str:
        return f"max |Δlogit| {result.max_abs_logit_diff:.3g}, token agreement {result.token_agreement:.2%}"


EXPORT_TASKS[TokenClassificationExport.name] = TokenClassificationExport
