"""`edgebert export`: model directory + target → bundle (model file, tokenizer, evaluation split, manifest).

Nothing is called done before parity: the bundle is run, through the same runner `bench` uses, on the
evaluation split and compared with the PyTorch source. The bundle is built in a temp dir and renamed into place
only after it passed, so a failure or Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebert import bundle, task_types
from edgebert.architectures import architecture
from edgebert.errors import ParityError, UserError
from edgebert.export.task_exports import EvalData, export_task, model_manifest
from edgebert.targets import QuantizationSettings, Target, load_target

Log = Callable[[str], None]


def resolve_model_dir(model: str | Path | None, log: Log | None = None, progress=None, task: str | None = None) -> Path:
    """`model`, or the task's default model (for classification trained on first use; `progress(description, total)
    -> advance(n)`)."""
    if model is not None:
        return Path(model)
    return export_task(task).default_model_dir(log, progress)


def resolve_eval_data(
    model_dir: Path,
    dataset: str | Path | None,
    text_column: str = "text",
    label_column: str = "label",
    eval_split: str = "test",
    task: str | None = None,
) -> EvalData:
    """The texts a bundle of `model_dir` is validated and benched on (the task decides which; see task_exports)."""
    return export_task(task_types.resolve(model_dir, task)).eval_data(
        Path(model_dir), dataset, text_column, label_column, eval_split
    )


def export_bundle(
    target: str | Target,
    model_dir: str | Path | None = None,
    out: str | Path | None = None,
    *,
    format: str | None = None,
    precision: str | None = None,
    dataset: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    quantization: QuantizationSettings | None = None,
    max_length: int | None = None,
    eval_split: str = "test",
    force: bool = False,
    log: Log | None = None,
    task: str | None = None,
    evals: EvalData | None = None,
    timing_only: bool = False,
) -> Path:
    """Export, validate and write a bundle; returns its path.

    `precision` (fp32, fp16 or int8) overrides both the target's default and a compress recipe's choice. `task`
    (default: what the model directory says, see task_types.detect) must agree with the model's head;
    `max_length` None: the task's default for the model (128; a sentence-transformers model's max_seq_length).
    `evals`: the evaluation data the caller already holds (`edgebert run` resolves its data once and passes it to
    every export); None: resolved here from the model directory or `dataset`.
    `timing_only`: a bundle made only to be timed (edgebert run's untrained shapes, whose weights distillation is about
    to change): parity still runs and is recorded, but a miss is recorded (`parity.passed` false, `timing_only` true)
    instead of stopping the export. An untrained pruned model's logits are near ties, so int8 flips its labels
    wherever it is timed; what its distilled weights do is checked when they are exported.
    """
    from edgebert.models import count_parameters

    log = log or (lambda msg: None)
    started = time.time()
    tgt = target if isinstance(target, Target) else load_target(target)
    kind = task_types.resolve(model_dir, task)
    handler = export_task(kind)
    source_dir = resolve_model_dir(model_dir, log, task=kind.name)
    source_manifest = model_manifest(source_dir) if (Path(source_dir) / bundle.MANIFEST).is_file() else {}
    if quantization is None and "quantization" in source_manifest:
        quantization = QuantizationSettings(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in source_manifest["quantization"].items()}
        )
    if quantization is not None:
        tgt = tgt.with_quantization(quantization)
    fmt = format or tgt.export.format
    tgt = _with_source_precision(tgt, source_manifest, source_dir, fmt)
    if precision is not None:
        tgt = with_precision(tgt, precision)
    if fmt not in ("onnx", "torchscript"):
        raise UserError(f"unknown format {fmt!r}; use onnx or torchscript")
    # target names are [A-Za-z0-9._-]; a task other than classification names itself, so defaults never collide
    suffix = "" if kind.name == task_types.DEFAULT else f"-{kind.name}"
    out_path = Path(out) if out else Path("bundles") / f"{tgt.name}-{fmt}-{tgt.precision}{suffix}"
    inputs = [source_dir, dataset]
    bundle.check_output_dir(out_path.absolute(), force, inputs)

    model, tokenizer = handler.load(source_dir)
    cfg = model.config
    max_length = min(max_length or handler.default_max_length(source_dir), position_limit(cfg))
    if evals is None:
        evals = handler.eval_data(source_dir, dataset, text_column, label_column, eval_split)
    handler.check(model, evals)
    input_names = architecture(cfg.model_type).input_names
    log(f"source: {cfg.model_type}, {count_parameters(model):,} parameters, {len(evals.evaluation)} evaluation texts")
    reference = handler.reference(model, tokenizer, evals, max_length)

    with bundle.staging_dir(out_path, force=force, inputs=inputs) as tmp:
        details: dict[str, Any] = {}
        if fmt == "onnx":
            model_file = "model.onnx"
            details = _build_onnx(
                model,
                tokenizer,
                input_names,
                tmp / model_file,
                tgt,
                source_manifest,
                evals,
                max_length,
                log,
                kind.output,
            )
        else:
            from edgebert.export.torchscript import to_torchscript

            model_file = "model.pt"
            log("tracing TorchScript" + (" with dynamic int8" if tgt.quantization.mode == "dynamic" else ""))
            details = to_torchscript(model, input_names, tmp / model_file, tgt)
        tok_info = _save_tokenizer(tokenizer, tmp, max_length)
        _save_config(cfg, tmp)
        handler.write_eval_files(evals, tmp)
        manifest: dict[str, Any] = {
            "kind": "bundle",
            "source": {
                "path": str(Path(source_dir).absolute()),
                "model_type": cfg.model_type,
                "sha256": bundle.sha256_file(next(Path(source_dir).glob("*.safetensors"))),
                **handler.source_info(model),
                "parameters": count_parameters(model),
                "num_layers": getattr(cfg, "num_hidden_layers", None),
            },
            "task": evals.task,
            "task_type": kind.name,
            "target": {"name": tgt.name, "description": tgt.description, "precision": tgt.precision, **tgt.to_dict()},
            "format": fmt,
            "opset": tgt.export.opset if fmt == "onnx" else None,
            "precision": tgt.precision,
            "model_file": model_file,
            "inputs": list(input_names),
            "outputs": [kind.output],
            "tokenizer": tok_info,
            "export": details,
            "stages": source_manifest.get("stages", []),
        }
        # Parity runs the staged bundle exactly as bench will (tokenizers + onnxruntime/TorchScript).
        from edgebert.runtime import Encoder, make_runner

        log(f"parity: {len(evals.evaluation)} sentences against the PyTorch source")
        manifest["files"] = bundle.file_hashes(tmp)  # the runtime opens only listed files (write_manifest refreshes it)
        runner = make_runner(tmp, manifest, trust_torchscript=True)  # the TorchScript this export just traced
        got = handler.bundle_outputs(runner, Encoder(tmp, manifest), evals)
        try:
            result = handler.parity(reference, got, tgt, f"{tgt.name} {fmt} {tgt.precision} export")
            manifest["parity"] = result.to_dict()
        except ParityError as exc:
            if not timing_only:
                raise
            result, manifest["parity"] = None, {"passed": False, "error": str(exc)}
        if timing_only:
            manifest["timing_only"] = True
        manifest["reference"] = {
            "dataset": evals.evaluation.name,
            "file": "eval.jsonl",
            "split": evals.split,
            "sha256": handler.digest(evals.evaluation),
            "size": len(evals.evaluation),
            **handler.reference_section(model, evals, reference, got),
        }
        manifest["export_seconds"] = round(time.time() - started, 1)
        bundle.write_manifest(tmp, manifest)
        log(f"parity passed: {handler.passed_line(result)}" if result else "parity missed (a bundle for timing only)")
    return out_path


def _with_source_precision(tgt: Target, source_manifest: dict, source_dir, fmt: str) -> Target:
    """fp16/bf16 chosen by `compress` (manifest "precision", compress/quantize.py) replaces the target's float precision."""
    import dataclasses

    precision = source_manifest.get("precision")
    if precision not in ("fp16", "bf16") or tgt.quantization.mode != "none":
        return tgt
    if precision == "bf16" and fmt == "onnx":
        raise UserError(
            "bf16 bundles are TorchScript only (onnxruntime has no fast bf16 CPU kernels); add --format torchscript"
        )
    if tgt.export.precision == precision:
        return tgt
    if precision not in tgt.parity:
        raise UserError(
            f"{source_dir} is set to {precision} by its recipe, but target {tgt.name} has no [parity.{precision}] "
            f"tolerances; export it for a {precision} target (fp16: --target cuda)"
        )
    return dataclasses.replace(tgt, export=dataclasses.replace(tgt.export, precision=precision))


PRECISION_CHOICES = ("fp32", "fp16", "int8")


def with_precision(tgt: Target, precision: str) -> Target:
    """The target set to export at `precision`: fp32/fp16 turn quantization off; int8 keeps the target's
    quantization settings, or uses dynamic per-channel int8 when the target has none (e.g. cuda)."""
    import dataclasses

    if precision not in PRECISION_CHOICES:
        raise UserError(f"unknown precision {precision!r}; use one of {', '.join(PRECISION_CHOICES)}")
    if precision not in tgt.parity:
        raise UserError(
            f"target {tgt.name} has no [parity.{precision}] tolerances, so a {precision} export cannot be "
            f"validated; add that table to a copy of the target (edgebert targets show {tgt.name} --toml)"
        )
    if precision == "int8":
        q = tgt.quantization if tgt.quantization.mode != "none" else QuantizationSettings(mode="dynamic")
        return dataclasses.replace(tgt, quantization=q, export=dataclasses.replace(tgt.export, precision="fp32"))
    return dataclasses.replace(
        tgt,
        quantization=dataclasses.replace(tgt.quantization, mode="none"),
        export=dataclasses.replace(tgt.export, precision=precision),
    )


def _build_onnx(
    model,
    tokenizer,
    input_names,
    dst: Path,
    tgt: Target,
    source_manifest: dict,
    evals: EvalData,
    max_length: int,
    log: Log,
    output: str = "logits",
) -> dict[str, Any]:
    from edgebert.export import onnx as ox

    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edgebert-export-") as work_dir:
        work = Path(work_dir)
        current = work / "fp32.onnx"
        log(f"exporting ONNX (opset {tgt.export.opset})")
        ox.torch_to_onnx(model, input_names, current, tgt.export.opset, output)
        details["fp32_bytes"] = current.stat().st_size
        # Fusion concatenates Q/K/V per layer, which would copy weights that layers share: skip it for shared models.
        shared = bool(source_manifest.get("shared_weights"))
        if tgt.export.optimize and not shared and tgt.quantization.mode != "static":
            log("optimizing the graph (onnxruntime transformer optimizer)")
            nxt = work / "opt.onnx"
            details["fused_ops"] = ox.optimize_graph(current, nxt, model.config.model_type)
            current = nxt
        if tgt.export.precision == "fp16" and tgt.quantization.mode == "none":
            log("converting to float16")
            nxt = work / "fp16.onnx"
            ox.to_float16(current, nxt)
            current = nxt
        if tgt.quantization.mode != "none":
            q = tgt.quantization
            log(
                f"quantizing: {q.mode} int8, {q.format}, weights {q.weight_type}{' per-channel' if q.per_channel else ''}"
                f"{', reduce_range' if q.reduce_range else ''}"
            )
            calib = None
            if q.mode == "static":
                calib = _calibration_batches(
                    tokenizer, input_names, evals.calibration.texts[: q.calibration_samples], max_length
                )
            nxt = work / "int8.onnx"
            ox.quantize(current, nxt, q, calib)
            current = nxt
        shutil.copyfile(current, dst)
    details["graph"] = ox.graph_summary(dst)
    details["bytes"] = dst.stat().st_size
    return details


def position_limit(cfg) -> int:
    """The longest input the model's position embeddings allow (RoBERTa and MPNet start positions after the pad id)."""
    return architecture(cfg.model_type).position_limit(cfg)


def _save_config(cfg, dst: Path) -> None:
    """config.json with id2label/label2id: what Optimum's ORTModel classes and `pipeline()` read the labels from."""
    cfg.save_pretrained(str(dst))


def _calibration_batches(tokenizer, input_names, texts, max_length: int, batch_size: int = 8) -> list[dict]:
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(
            list(texts[i : i + batch_size]), return_tensors="np", padding=True, truncation=True, max_length=max_length
        )
        out.append({k: enc[k].astype(np.int64) for k in input_names})
    return out


# What Hugging Face's AutoTokenizer reads besides tokenizer.json; the vocabulary files exist for some models only.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)


def _save_tokenizer(tokenizer, dst: Path, max_length: int) -> dict[str, Any]:
    """The tokenizer in Hugging Face's layout. On a device the `tokenizers` library reads tokenizer.json alone (no
    transformers); the other files make the bundle a model directory AutoTokenizer and Optimum load too."""
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("the model's tokenizer has no fast (tokenizer.json) version; edgebert bundles need one")
    saved_max = tokenizer.model_max_length
    tokenizer.model_max_length = max_length  # so `truncation=True` cuts where the bundle was validated
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer.save_pretrained(tmp)
            for name in TOKENIZER_FILES:
                if (Path(tmp) / name).is_file():
                    shutil.copyfile(Path(tmp) / name, dst / name)
    finally:
        tokenizer.model_max_length = saved_max
    return {
        "file": "tokenizer.json",
        "max_length": max_length,
        "pad_token": tokenizer.pad_token,
        "pad_id": int(tokenizer.pad_token_id),
        "lowercase": bool(getattr(tokenizer, "do_lower_case", False)),
    }
