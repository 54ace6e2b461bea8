"""The NER section of the peers benchmark: edgebert's default NER model (MiniLM-L6 fine-tuned on CoNLL-2003, cached
under ~/.cache/edgebert/default-ner/) as each tool's users export it, timed round-robin on identical token ids.

- PyTorch eager fp32: the model as loaded (`AutoModelForTokenClassification`), the source of the tag agreement.
- Optimum: `main_export(dir, task="token-classification")` and ORTQuantizer's dynamic per-channel preset for this CPU
  on it (as the classification rows quantize).
- edgebert: `export --target x86 --task token-classification` at fp32 and int8.

Every row is scored the same way, by the product's own path: `edgebert.ner_runtime.predict_words` (pre-tokenized
words, first sub-token per word, batches of 32 in length order, the truncation policy) and `edgebert.ner_metric`
(entity-level micro F1 as seqeval's default) on CoNLL-2003 test, plus word-tag agreement with the PyTorch source.
Latency: batch 1 at the sentences' real lengths (each sentence padded to nothing but itself).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from edgebert.bench.inputs import Workload

from benchmarks.peers import build, task_rows
from benchmarks.peers.build import Log, Variant
from benchmarks.peers.runners import RunnerSpec, open_runner
from benchmarks.peers.workload import WorkloadCalls

TASK = "token-classification"
SOURCE = "pytorch-eager-fp32"
MAX_LENGTH = 128  # the NER export's and training's max length (edgebert.ner.TRAIN)


def model_dir(log: Log) -> Path:
    from edgebert.export.task_exports import export_task

    return export_task(TASK).default_model_dir(log)  # trained once (~3 min on 2 cores) and cached


def _torch_variant(src: Path) -> Variant:
    from edgebert.models import MODEL_INPUTS, read_config

    names = MODEL_INPUTS[read_config(src)["model_type"]]
    weights = sum(p.stat().st_size for p in src.glob("*.safetensors"))
    return Variant(
        SOURCE, "PyTorch eager fp32 (source)", "pytorch", "fp32", "torch", RunnerSpec("torch-ner", str(src), names),
        src, weights, "model.safetensors", 0.0, ["AutoModelForTokenClassification as loaded: the source of tag agreement"],
    )  # fmt: skip


def build_optimum(src: Path, work: Path, log: Log, preset: str) -> list[Variant]:
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    log("Optimum: main_export(task=token-classification) (local directory)")
    export_dir = work / "optimum-token-classification"
    start = time.perf_counter()
    main_export(str(src), export_dir, task="token-classification", local_files_only=True, do_validation=False)
    export_s = time.perf_counter() - start
    log(f"Optimum: ORTQuantizer, {preset} preset (dynamic, per-channel)")
    qdir = work / f"optimum-token-classification-{preset}"
    qdir.mkdir()
    start = time.perf_counter()
    with build._cwd(qdir):
        config = getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=True)
        ORTQuantizer.from_pretrained(export_dir).quantize(config, qdir)
    out = []
    for name, label, path, seconds, note in (
        ("optimum-tc-fp32", "Optimum token-classification fp32", export_dir / "model.onnx", export_s,
         "main_export(task=token-classification)"),
        (f"optimum-tc-{preset}-int8", f"Optimum token-classification {preset} int8", qdir / "model_quantized.onnx",
         export_s + time.perf_counter() - start,
         f"AutoQuantizationConfig.{preset}(is_static=False, per_channel=True) + ORTQuantizer on the export"),
    ):  # fmt: skip
        spec = RunnerSpec("onnx", str(path), build.onnx_inputs(path), "logits")
        precision = "int8" if "int8" in name else "fp32"
        out.append(
            Variant(name, label, "optimum", precision, "onnxruntime", spec, src, build.onnx_bytes(path), path.name,
                    seconds, [note])
        )  # fmt: skip
    return out


def build_variants(work: Path, log: Log, eval_sentences: int | None) -> list[Variant]:
    """Every variant of this section; `eval_sentences` caps the sentences edgebert's export checks parity on."""
    from edgebert.export.task_exports import export_task

    src = model_dir(log)
    work = work / "ner"
    work.mkdir(parents=True, exist_ok=True)
    variants = [_torch_variant(src), *build_optimum(src, work, log, build.cpu_preset())]
    evals = export_task(TASK).eval_data(src, None, "text", "label", "test")
    if eval_sentences:
        evals = dataclasses.replace(evals, evaluation=evals.evaluation.head(eval_sentences))
    variants += task_rows.edgebert_bundles(src, work, TASK, evals, log)
    return variants


def open_tagger(v: Variant, threads: int):
    """inputs → logits [batch, seq, labels] for any variant of this section."""
    if v.spec.kind != "torch-ner":
        return open_runner(v.spec, threads)
    from edgebert import ner
    from edgebert.errors import require

    require("torch").set_num_threads(threads)
    model, _ = ner.load_tagger(v.spec.path)
    run = ner.torch_run(model.eval())
    return lambda x: run({k: x[k] for k in v.spec.inputs})


def measure(variants: list[Variant], settings: dict, threads: int, gap_s: float, gate, log: Log) -> dict[str, Any]:
    """Time every variant at real lengths, batch 1, round-robin; score each on CoNLL-2003 test the product's way."""
    from edgebert import ner, ner_data, ner_metric
    from edgebert.models import label2id
    from edgebert.ner_runtime import predict_words

    src = Path(variants[0].model_dir)
    model, tokenizer = ner.load_tagger(src)
    id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
    encoder = ner.word_encoder(model, tokenizer, MAX_LENGTH)
    test = ner_data.load_conll2003("test")
    scored = test.head(settings["ner_scored"]) if settings["ner_scored"] else test
    timed = test.head(settings["ner_timed"]) if settings["ner_timed"] else test
    runners = {v.name: open_tagger(v, threads) for v in variants}
    real = WorkloadCalls(Workload("real", 1, None), tuple(encoder([s])[0] for s in timed.tokens))
    latency, _, load = task_rows.time_task(runners, [(real, len(timed), False)], settings["warmup"], gap_s, gate, log)
    log(f"scoring: entity F1 on {len(scored)} CoNLL-2003 test sentences, every variant")
    o_id = ner.o_id(label2id(model))
    preds = {n: predict_words(run, encoder, scored.tokens, o_id) for n, run in runners.items()}
    scores = {}
    for v in variants:
        s = ner.score(scored, preds[v.name], id2label)
        scores[v.name] = {
            **{k: s[k] for k in ("entity_f1", "entity_precision", "entity_recall", "entities", "token_accuracy")},
            "sentences": s["sentences"],
            "words": s["words"],
            "truncation": s["truncation"],
            "tag_agreement_with_source": ner_metric.tag_agreement(preds[SOURCE].labels, preds[v.name].labels),
        }
    return {
        "task": TASK,
        "model_dir": str(src),
        "source": SOURCE,
        "max_length": MAX_LENGTH,
        "plan": {real.name: len(timed)},
        "scored_sentences": len(scored),
        "cpu_load_during_timing": load,
        "peer_best": task_rows.peer_best(variants, latency, SOURCE),
        "variants": task_rows.records(variants, latency, scores, SOURCE),
    }
