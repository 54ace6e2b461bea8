"""Export a token classifier (NER): ONNX with logits [batch, seq, labels], validated word by word.

The graph is built by the same pipeline as a sequence classifier's (exporter._build_onnx: torch.onnx, the target's
optimizer, fp16 or int8) with a dynamic sequence axis on the output. Parity runs the staged bundle through the
runtime's word path (tokenizers with `is_pretokenized=True`, `Encoding.word_ids`, first sub-token per word) on the
evaluation sentences and compares with the PyTorch source: the share of words tagged alike (the target's
`min_token_agreement`) and the largest |Δlogit| over the words' logits (`max_abs_logit_diff`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import bundle, ner_data, ner_metric
from edgebert.errors import ModelError, ParityError, UserError
from edgebert.export.exporter import (
    EvalData,
    Log,
    _build_onnx,
    _save_config,
    _save_tokenizer,
    model_manifest,
    position_limit,
    resolve_target,
)
from edgebert.export.parity import MIN_SENTENCES
from edgebert.ner_runtime import WordEncoder, WordPredictions, predict_words
from edgebert.targets import QuantizationSettings, Target

TASK_TYPE = "token-classification"


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
    limit = tol.token_agreement
    ok = bool(finite and max_diff <= tol.max_abs_logit_diff and agreement >= limit)
    mean = float(flat.mean()) if flat.size else 0.0
    return TokenParity(
        len(ref.labels), words, max_diff, mean, agreement, agreement, precision, tol.max_abs_logit_diff, limit, ok
    )


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


def is_token_model(model_dir: Path | str) -> bool:
    """Whether a model directory's config.json names a token-classification head (a missing dir: False; the
    loader says what is wrong with it)."""
    import json

    try:
        cfg = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    archs = cfg.get("architectures") if isinstance(cfg, dict) else None
    return isinstance(archs, list) and any(isinstance(a, str) and a.endswith("ForTokenClassification") for a in archs)


def check_head(model_dir: Path | str) -> None:
    """A model whose config names a non-token head contradicts --task token-classification: one line, not a load."""
    from edgebert.models import read_config

    archs = read_config(model_dir).get("architectures") or []
    other = [a for a in archs if isinstance(a, str) and "For" in a and not a.endswith("ForTokenClassification")]
    if other:
        raise ModelError(
            f"{model_dir} holds a {other[0]} (its config.json says so), not a token classifier; "
            "--task token-classification needs a *ForTokenClassification model (or drop --task)"
        )


def resolve_eval_data(model_dir: Path, dataset: str | Path | None, eval_split: str = "test") -> EvalData:
    """A user's token dataset whole, or the default NER model's CoNLL-2003 split (calibration: dev, or train)."""
    if dataset is not None:
        ds = ner_data.load_token_dataset(dataset)
        return EvalData(ds, ds, split="all")  # type: ignore[arg-type]
    task = model_manifest(model_dir).get("task")
    if task and task.get("name") == "conll2003":
        calibration = "dev" if eval_split == "test" else "train"
        return EvalData(
            ner_data.load_conll2003(eval_split),  # type: ignore[arg-type]
            ner_data.load_conll2003(calibration).head(512),  # type: ignore[arg-type]
            split=eval_split,
            task=task,
        )
    raise UserError(
        f"{model_dir} is not the default NER model; pass --dataset FILE with tagged evaluation sentences "
        "(CoNLL-style `word ... TAG` lines, or JSONL with tokens/tags)"
    )


def export_token_bundle(
    target: str | Target,
    model_dir: str | Path | None = None,
    out: str | Path | None = None,
    *,
    format: str | None = None,
    precision: str | None = None,
    dataset: str | Path | None = None,
    quantization: QuantizationSettings | None = None,
    max_length: int = 128,
    eval_split: str = "test",
    force: bool = False,
    log: Log | None = None,
    progress=None,
) -> Path:
    """Export, validate word by word and write a token-classification bundle; returns its path."""
    from edgebert import ner
    from edgebert.models import count_parameters, label2id

    log = log or (lambda msg: None)
    started = time.time()
    if model_dir is None:
        log("using the default NER model (all-MiniLM-L6-v2 fine-tuned on CoNLL-2003)")
        source_dir = ner.default_model_dir(progress=progress)
    else:
        source_dir = Path(model_dir)
        check_head(source_dir)
    source_manifest = model_manifest(source_dir)
    tgt, fmt = resolve_target(target, source_dir, source_manifest, quantization, format, precision)
    if fmt != "onnx":
        raise UserError("token-classification bundles are ONNX only; drop --format torchscript")
    out_path = Path(out) if out else Path("bundles") / f"{tgt.name}-ner-{fmt}-{tgt.precision}"
    inputs = [source_dir, dataset]
    bundle.check_output_dir(out_path.absolute(), force, inputs)

    evals = resolve_eval_data(source_dir, dataset, eval_split)
    sentences: ner_data.TaggedSentences = evals.evaluation  # type: ignore[assignment]
    model, tokenizer = ner.load_tagger(source_dir)
    cfg = model.config
    l2i = label2id(model)
    sentences.tag_ids(l2i)  # a tag outside the label set fails here, before any export work
    max_length = min(max_length, position_limit(cfg))
    input_names = list(ner.word_encoder(model, tokenizer, max_length).input_names)
    log(f"source: {cfg.model_type} tagger, {count_parameters(model):,} parameters, {len(sentences)} sentences")
    ref = ner.predict(model, tokenizer, sentences, max_length)
    id2label = {int(k): str(v) for k, v in cfg.id2label.items()}

    with bundle.staging_dir(out_path, force=force, inputs=inputs) as tmp:
        details = _build_onnx(
            model,
            tokenizer,
            input_names,
            tmp / "model.onnx",
            tgt,
            source_manifest,
            evals,
            max_length,
            log,
            logits_axes={0: "batch", 1: "sequence"},
        )
        tok_info = _save_tokenizer(tokenizer, tmp, max_length)
        _save_config(cfg, tmp)
        sentences.to_jsonl(tmp / "eval.jsonl")
        manifest: dict[str, Any] = {
            "kind": "bundle",
            "task_type": TASK_TYPE,
            "source": {
                "path": str(Path(source_dir).absolute()),
                "model_type": cfg.model_type,
                "sha256": bundle.sha256_file(next(Path(source_dir).glob("*.safetensors"))),
                "num_labels": cfg.num_labels,
                "id2label": {str(k): v for k, v in id2label.items()},
                "parameters": count_parameters(model),
                "num_layers": getattr(cfg, "num_hidden_layers", None),
            },
            "task": evals.task,
            "target": {"name": tgt.name, "description": tgt.description, "precision": tgt.precision, **tgt.to_dict()},
            "format": fmt,
            "opset": tgt.export.opset,
            "precision": tgt.precision,
            "model_file": "model.onnx",
            "inputs": input_names,
            "outputs": ["logits"],
            "output_shape": ["batch", "sequence", "labels"],
            "tokenizer": tok_info,
            "export": details,
            "stages": source_manifest.get("stages", []),
        }
        from edgebert.runtime import load_tokenizer, make_runner

        log(f"parity: {sentences.words} words of {len(sentences)} sentences against the PyTorch source")
        manifest["files"] = bundle.file_hashes(tmp)
        runner = make_runner(tmp, manifest)
        encoder = WordEncoder(
            load_tokenizer(tmp, manifest), input_names, max_length, tok_info["pad_id"], tok_info["pad_token"]
        )
        got = predict_words(runner, encoder, sentences.tokens, ner.o_id(l2i))
        result = compare_words(ref, got, tgt.tolerance(tgt.precision), tgt.precision)
        check(result, f"{tgt.name} {fmt} {tgt.precision} export")
        source_scores = ner.score(sentences, ref, id2label)
        bundle_scores = ner.score(sentences, got, id2label)
        manifest["parity"] = result.to_dict()
        manifest["reference"] = {
            "dataset": sentences.name,
            "file": "eval.jsonl",
            "split": evals.split,
            "sha256": ner_data.digest(sentences),
            "size": len(sentences),
            "words": sentences.words,
            "predictions": [p.tolist() for p in ref.labels],  # per sentence, one label id per visible word
            "entity_f1": source_scores["entity_f1"],
            "bundle_entity_f1": bundle_scores["entity_f1"],
            "token_accuracy": source_scores["token_accuracy"],
            "truncation": ref.truncation(),
        }
        manifest["export_seconds"] = round(time.time() - started, 1)
        bundle.write_manifest(tmp, manifest)
        log(
            f"parity passed: max |Δlogit| {result.max_abs_logit_diff:.3g}, token agreement {result.token_agreement:.2%}; "
            f"entity F1 {bundle_scores['entity_f1']:.2%} (source {source_scores['entity_f1']:.2%})"
        )
    return out_path
