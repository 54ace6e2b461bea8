"""`bench_bundle`: verify a bundle, then time it, measure its memory and score it, on this machine.

The order matters: sha256s are verified and every input (counts, sizes, dataset, output path) is checked
before anything is timed, so a mistake fails in a second, not after minutes. The bundle runs through
`edgebert.runtime` — the same tokenizer and session code that export's parity check validated.
"""

from __future__ import annotations

import importlib
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgebert import bundle as bundles
from edgebert import cpu, task_types
from edgebert._version import __version__
from edgebert.bench import environment, latency, macs, memory, scoring
from edgebert.bench import peak as peak_probe
from edgebert.bundle import bundle_digest, now_iso, read_manifest, verify_files
from edgebert.errors import BundleError, UserError
from edgebert.manifest import parse_bundle_manifest
from edgebert.runtime import UNTRUSTED_TORCHSCRIPT, Encoder, check_threads, make_runner

RESULTS_SCHEMA_VERSION = 1
DEFAULT_BATCH_SIZES = (1, 8)
DEFAULT_SEQ_LEN = 32  # with the bundle's max length: a short and a full-length figure
SHUFFLE_SEED = 0
MB = 1e6  # decimal megabytes, as every report prints them

# progress(description, total calls or None) -> advance(n): how the CLI draws a bar; the library stays silent.
Progress = Callable[[str, "int | None"], Callable[[int], None]]
Log = Callable[[str], None]


def _positive_ints(values: Sequence[int], what: str) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise UserError(f"{what} must be integers >= 1, got {v!r}")
        if int(v) not in out:
            out.append(int(v))
    if not out:
        raise UserError(f"give at least one {what.rstrip('s')}")
    return tuple(out)


def check_bundle(bundle_dir: Path, warnings: list[str] | None = None) -> dict[str, Any]:
    """The bundle's manifest, after its kind, fields, paths and every file's sha256 were checked (bundle.py's closed
    world); files nobody listed are added to `warnings`."""
    manifest = read_manifest(bundle_dir)
    if manifest.get("kind") != "bundle":
        raise BundleError(
            f"{bundle_dir} is a {manifest.get('kind', 'unknown')!r} directory, not a bundle; "
            f"export it first: edgebert export --model {bundle_dir} --target TARGET"
        )
    parse_bundle_manifest(manifest, bundle_dir)  # every field bench and the runtime read, typed and in range
    _check_shape(bundle_dir, manifest)
    extra = verify_files(bundle_dir, manifest)
    if warnings is not None:
        warnings.extend(extra)
    return manifest


def _check_shape(bundle_dir: Path, manifest: dict[str, Any]) -> None:
    """The manifest fields the runtime reads have the types it needs: a hand-edited manifest is one line, not a KeyError."""
    from edgebert.architectures import ARCHITECTURES
    from edgebert.runtime import GRAPH_LEVELS

    def bad(field: str, want: str) -> BundleError:
        return BundleError(f"{bundle_dir}/manifest.json: {field} must be {want}; re-export the bundle")

    known = {name for arch in ARCHITECTURES.values() for name in arch.input_names}
    if not isinstance(manifest["inputs"], list) or not manifest["inputs"] or not set(manifest["inputs"]) <= known:
        raise bad("inputs", f"a list of input names from {', '.join(sorted(known))}")
    if (
        not isinstance(manifest["outputs"], list)
        or not manifest["outputs"]
        or not all(isinstance(o, str) for o in manifest["outputs"])
    ):
        raise bad("outputs", "a non-empty list of output names")
    target = manifest["target"]
    runtime = target.get("runtime") if isinstance(target, dict) else None
    if not isinstance(runtime, dict):
        raise bad("target.runtime", "a table of runtime settings")
    if runtime.get("graph_optimization", "all") not in GRAPH_LEVELS:
        raise bad("target.runtime.graph_optimization", f"one of {', '.join(GRAPH_LEVELS)}")
    providers = runtime.get("execution_providers", ["CPUExecutionProvider"])
    if not isinstance(providers, list) or not all(isinstance(x, str) for x in providers):
        raise bad("target.runtime.execution_providers", "a list of provider names")
    source = manifest["source"]
    labelled = manifest.get("task_type", task_types.DEFAULT) != task_types.SENTENCE_EMBEDDING
    if not isinstance(source, dict) or (
        labelled and (not isinstance(source.get("id2label"), dict) or not source["id2label"])
    ):
        raise bad("source.id2label", "a table of label ids to names")


def _special_tokens(encoder: Encoder, text: str) -> tuple[list[int], list[int]]:
    """The ids a real encoding puts before and after the text ([CLS] … [SEP], <s> … </s>)."""
    enc = encoder.tokenizer.encode(text)
    real = [(i, s) for i, s, m in zip(enc.ids, enc.special_tokens_mask, enc.attention_mask) if m]
    head = list(itertools.takewhile(lambda p: p[1], real))
    tail = list(itertools.takewhile(lambda p: p[1], reversed(real[len(head) :])))
    return [i for i, _ in head], [i for i, _ in reversed(tail)]


def synthetic_inputs(encoder: Encoder, texts: Sequence[str], batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """`batch_size` rows of exactly `seq_len` real token ids: the evaluation texts' ids back to back, wrapped."""
    head, tail = _special_tokens(encoder, texts[0])
    body = seq_len - len(head) - len(tail)
    if body < 1:
        raise UserError(
            f"sequence length {seq_len} leaves no room for text after the {len(head) + len(tail)} special tokens"
        )
    encs = encoder.tokenizer.encode_batch(list(texts[:512]), add_special_tokens=False)
    stream = np.array([i for e in encs for i, m in zip(e.ids, e.attention_mask) if m], dtype=np.int64)
    if stream.size == 0:
        raise UserError("the evaluation texts tokenize to nothing; cannot build synthetic inputs")
    rows = [
        head + np.take(stream, np.arange(r * body, (r + 1) * body), mode="wrap").tolist() + tail
        for r in range(batch_size)
    ]
    arrays = {
        "input_ids": np.array(rows, dtype=np.int64),
        "attention_mask": np.ones((batch_size, seq_len), dtype=np.int64),
        "token_type_ids": np.zeros((batch_size, seq_len), dtype=np.int64),
    }
    return {k: arrays[k] for k in encoder.input_names}


def real_batches(
    encoder: Encoder, texts: Sequence[str], batch_size: int, sort_by_length: bool
) -> list[dict[str, np.ndarray]]:
    """The texts in batches padded to their own longest text; sorted by length first, so padding stays small."""
    order = np.argsort(encoder.lengths(texts), kind="stable") if sort_by_length else np.arange(len(texts))
    return [encoder([texts[j] for j in order[i : i + batch_size]]) for i in range(0, len(texts), batch_size)]


def graph_macs(bundle_dir: Path, manifest: dict[str, Any]) -> macs.GraphMacs | None:
    """The ONNX graph's multiply-accumulates (None for TorchScript, or a graph the reader cannot walk)."""
    if manifest.get("format") != "onnx":
        return None
    try:
        return macs.count_macs(Path(bundle_dir) / manifest["model_file"])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None


def real_row_stats(
    batches: Sequence[dict[str, np.ndarray]], timed: Sequence[int], samples: np.ndarray, graph: macs.GraphMacs | None
) -> dict[str, Any]:
    """A real-lengths latency row from the batches each timed call ran (`timed[k]`: the batch of call k)."""
    masks = [batches[i]["attention_mask"] for i in timed]
    rows = float(np.mean([m.shape[0] for m in masks]))
    tokens = float(np.mean([m.sum() for m in masks]))
    stats = latency.summarize(samples, rows, tokens)
    row = {
        "mean_tokens": tokens / rows,
        "mean_padded_tokens": float(np.mean([m.size for m in masks])) / rows,
        **stats,
        "macs_per_call": None,
        "achieved_gops": None,
    }
    if graph:  # padded tokens: the work that really ran; the median of per-call rates, as robust as p50
        per_call = np.array([graph.per_call(*m.shape) for m in masks], dtype=np.float64)
        row.update(
            macs_per_call=float(per_call.mean()), achieved_gops=float(np.median(2 * per_call / np.asarray(samples)))
        )
    return row


def synthetic_row_stats(samples: np.ndarray, bs: int, n: int, graph: macs.GraphMacs | None) -> dict[str, Any]:
    stats = latency.summarize(samples, bs, bs * n)
    per_call = graph.per_call(bs, n) if graph else None
    return {
        **stats,
        "macs_per_call": per_call,
        "achieved_gops": 2 * per_call / (stats["p50_ms"] * 1e6) if graph else None,
    }


def _time_real(runner, batches, warmup, iterations, min_time_s, advance, graph) -> dict[str, Any]:
    # Batches are visited in a seeded random order, so a run shorter than one pass is an unbiased sample and
    # not just the shortest (first sorted) batches.
    visit = np.random.default_rng(SHUFFLE_SEED).permutation(len(batches))
    feed = itertools.cycle([batches[v] for v in visit])
    if iterations is None and min_time_s is None:
        iterations = len(batches)  # default: exactly one pass over the evaluation split
    samples = latency.time_calls(lambda: runner(next(feed)), warmup, iterations, min_time_s, advance)
    timed = visit[(warmup + np.arange(len(samples))) % len(batches)]
    return real_row_stats(batches, timed, samples, graph)


def _check_out(out: Path | None, bundle_dir: Path, dataset: str | Path | None) -> None:
    """--out is a file, not inside the bundle (a bundle holds only what export wrote), not the dataset."""
    if out is None:
        return
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file path such as {out / 'bench.json'}")
    bundles.check_output_file(out, inputs=[dataset], inside=[bundle_dir])


def write_results(doc: dict[str, Any], out: Path) -> Path:
    """Write the results document atomically (temp file + rename, parents created, the user's umask)."""
    return bundles.write_text_atomic(Path(out).absolute(), json.dumps(doc, indent=2) + "\n")


@dataclass(frozen=True)
class Plan:
    """A checked bench request: everything bench_bundle needs, validated before anything is loaded or timed."""

    bundle_dir: Path
    manifest: dict[str, Any]
    evaluation: Any  # accuracy.Evaluation, or the task's own (bench/scoring.py)
    batch_sizes: tuple[int, ...]
    seq_lens: tuple[int, ...]
    real: bool
    warmup: int
    iterations: int | None
    min_time_s: float | None
    threads: int | None
    sort_by_length: bool
    dataset: str | Path | None
    out: Path | None
    warnings: tuple[str, ...]
    trust_torchscript: bool = False  # plan() refused an untrusted TorchScript bundle; load() passes the consent on

    @property
    def configs(self) -> list[tuple[str, int, int | None]]:
        """(mode, batch size, sequence length — None for real) in the order they are timed."""
        synthetic = [("synthetic", bs, n) for bs in self.batch_sizes for n in self.seq_lens]
        return synthetic + [("real", bs, None) for bs in self.batch_sizes if self.real]


def plan(
    bundle: str | Path,
    batch_sizes: Sequence[int],
    seq_lens: Sequence[int] | None,
    real: bool,
    sort_by_length: bool,
    warmup: int,
    iterations: int | None,
    min_time_s: float | None,
    threads: int | None,
    dataset: str | Path | None,
    text_column: str,
    label_column: str,
    out: str | Path | None,
    trust_torchscript: bool = False,
) -> Plan:
    """Check the bundle (sha256s included) and every argument; raise a one-line EdgebertError on the first problem."""
    bundle_dir = Path(bundle)
    warnings: list[str] = []
    manifest = check_bundle(bundle_dir, warnings)
    if manifest["format"] == "torchscript" and not trust_torchscript:
        raise UserError(UNTRUSTED_TORCHSCRIPT.format(bundle=bundle_dir))
    latency.check_counts(warmup, iterations, min_time_s)
    if iterations is not None and min_time_s is not None:
        raise UserError("pass either iterations or min_time, not both")
    batch_sizes = _positive_ints(batch_sizes, "batch sizes")
    max_len = int(manifest["tokenizer"]["max_length"])
    seq_lens = _positive_ints(
        sorted({min(DEFAULT_SEQ_LEN, max_len), max_len}) if seq_lens is None else seq_lens, "sequence lengths"
    )
    too_long = [n for n in seq_lens if n > max_len]
    if too_long:
        raise UserError(
            f"sequence length {too_long[0]} exceeds the bundle's max length {max_len}; use --seq-lens up to {max_len}"
        )
    wanted = check_threads(
        threads if threads is not None else (manifest["target"].get("runtime") or {}).get("intra_op_threads", 0)
    )
    if wanted > cpu.usable_cores():
        source = (
            ""
            if threads is not None
            else f" (the {manifest['target'].get('name')} target's setting; override with --threads)"
        )
        warnings.append(
            f"{wanted} threads on {cpu.usable_cores()} usable cores{source}: threads compete for cores, latency suffers"
        )
    out_path = Path(out) if out is not None else None
    _check_out(out_path, bundle_dir, dataset)
    evaluation = scoring.scorer_for(manifest, bundle_dir).load(bundle_dir, manifest, dataset, text_column, label_column)
    warnings += environment.target_warnings(manifest)
    if environment.looks_emulated():
        warnings.append("running under emulation: latency figures are meaningless here; accuracy and memory are valid")
    return Plan(
        bundle_dir,
        manifest,
        evaluation,
        batch_sizes,
        seq_lens,
        bool(real),
        warmup,
        iterations,
        min_time_s,
        threads,
        sort_by_length,
        dataset,
        out_path,
        tuple(warnings),
        trust_torchscript,
    )


def _time_configs(p: Plan, runner, encoder: Encoder, progress: Progress | None, graph) -> list[dict[str, Any]]:
    texts = list(p.evaluation.texts.texts)
    rows = []
    for mode, bs, n in p.configs:
        calls = p.iterations or (latency.DEFAULT_ITERATIONS if mode == "synthetic" else -(-len(texts) // bs))
        what = f"{mode} batch {bs}" + (f" × {n} tokens" if n else "")
        advance = progress(what, None if p.min_time_s is not None else p.warmup + calls) if progress else None
        if mode == "synthetic":
            inputs = synthetic_inputs(encoder, texts, bs, n)
            samples = latency.time_calls(lambda: runner(inputs), p.warmup, p.iterations, p.min_time_s, advance)
            stats = synthetic_row_stats(samples, bs, n, graph)
        else:
            batches = real_batches(encoder, texts, bs, p.sort_by_length)
            stats = _time_real(runner, batches, p.warmup, p.iterations, p.min_time_s, advance, graph)
        rows.append({"mode": mode, "batch_size": bs, "seq_len": n, **stats})
    return rows


def _first_call(p: Plan, runner, encoder: Encoder, session_ms: float, tokenizer_ms: float) -> dict[str, Any]:
    """Cold start, kept apart from the steady state as TFLite's benchmark_model does: creating the session (model
    load + graph optimisation), loading the tokenizer, and the first call (allocations, kernel selection) on the
    first timed workload's inputs. What a process that serves one request, or a device after boot, pays."""
    mode, bs, n = p.configs[0]
    texts = list(p.evaluation.texts.texts)
    inputs = (
        synthetic_inputs(encoder, texts, bs, n)
        if mode == "synthetic"
        else real_batches(encoder, texts[:bs], bs, False)[0]
    )
    t0 = time.perf_counter()
    runner(inputs)
    first_ms = (time.perf_counter() - t0) * 1e3
    return {
        "session_create_ms": session_ms,
        "tokenizer_load_ms": tokenizer_ms,
        "first_call_ms": first_ms,
        "first_call_workload": {"mode": mode, "batch_size": bs, "seq_len": n},
        "time_to_first_result_ms": session_ms + tokenizer_ms + first_ms,
    }


def bench_bundle(
    bundle: str | Path,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seq_lens: Sequence[int] | None = None,
    real: bool = False,
    sort_by_length: bool = True,
    warmup: int = 10,
    iterations: int | None = None,
    min_time_s: float | None = None,
    threads: int | None = None,
    dataset: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    out: str | Path | None = None,
    progress: Progress | None = None,
    log: Log | None = None,
    trust_torchscript: bool = False,
) -> dict[str, Any]:
    """Benchmark a bundle on this machine; return (and with `out`, write) the bench results document.

    Synthetic inputs: each batch size × sequence length (default: 32 and the bundle's max length), real token
    ids, no padding. `real`: the evaluation split at its true lengths, dynamically padded. `iterations` timed
    calls per configuration (default 100; one pass over the split for `real`) or as many as fit `min_time_s`.
    """
    log = log or (lambda message: None)
    # Others' load is measured from here to the first timed call (verification, loading): no idle sleep needed.
    before = environment.CpuLoad()
    # 1. Everything that can be wrong is checked before anything is loaded or timed.
    p = plan(
        bundle,
        batch_sizes,
        seq_lens,
        real,
        sort_by_length,
        warmup,
        iterations,
        min_time_s,
        threads,
        dataset,
        text_column,
        label_column,
        out,
        trust_torchscript,
    )
    log(f"verified {len(p.manifest['files'])} files of {p.bundle_dir} (sha256)")
    with memory.RssSampler() as sampler:
        loaded = load(p, log)
        peak = machine_peak_for(loaded.runner, p.manifest, log)
        load_before = before.stop()
        # 2. Time (after loading), measuring the machine's other load over exactly the timed part.
        during = environment.CpuLoad()
        overhead_ns = latency.harness_overhead_ns()
        rows = _time_configs(p, loaded.runner, loaded.encoder, progress, loaded.graph)
        load_during = during.stop()
        # 3. Accuracy, through the same runner.
        log(f"scoring {len(p.evaluation.texts)} texts of {p.evaluation.name}")
        scores = score_bundle(p, loaded.runner, loaded.encoder)
    doc = results_document(p, loaded, rows, load_before, load_during, overhead_ns, sampler, scores, peak, [])
    if p.out is not None:
        write_results(doc, p.out)
    return doc


def score_bundle(p: Plan, runner, encoder: Encoder) -> dict[str, Any]:
    """The results document's quality section, from the bundle's outputs through the runner that was timed."""
    return scoring.scorer_for(p.manifest, p.bundle_dir).score_bundle(p.evaluation, runner, encoder)


@dataclass(frozen=True)
class Loaded:
    """A bundle ready to time: its session, tokenizer, graph MACs and the resident memory its load added."""

    runner: Any
    encoder: Encoder
    graph: macs.GraphMacs | None
    rss_before: int
    rss_after: int
    cold_start: dict[str, Any]


def load(p: Plan, log: Log) -> Loaded:
    """Load the bundle's session and tokenizer and make the first call, timing each (cold start); the libraries are
    imported first so that the RSS the model adds is its own and cold start times loading files, not imports."""
    try:
        importlib.import_module("onnxruntime" if p.manifest["format"] == "onnx" else "torch")
        importlib.import_module("tokenizers")
    except ImportError:
        pass  # make_runner says what to install
    rss_before = memory.rss_bytes()
    t0 = time.perf_counter()
    runner = make_runner(p.bundle_dir, p.manifest, p.threads, p.trust_torchscript)
    session_ms = (time.perf_counter() - t0) * 1e3
    rss_after = memory.rss_bytes()
    log(f"loaded {p.manifest['model_file']} in {session_ms:.0f} ms (+{(rss_after - rss_before) / MB:.1f} MB resident)")
    t0 = time.perf_counter()
    encoder = Encoder(p.bundle_dir, p.manifest)
    tokenizer_ms = (time.perf_counter() - t0) * 1e3
    cold_start = _first_call(p, runner, encoder, session_ms, tokenizer_ms)
    return Loaded(runner, encoder, graph_macs(p.bundle_dir, p.manifest), rss_before, rss_after, cold_start)


def machine_peak_for(runner, manifest: dict[str, Any], log: Log) -> dict[str, Any] | None:
    """This machine's GEMM peak at the session's thread count (ONNX on CPU only; cached after the first probe)."""
    if manifest.get("format") != "onnx" or environment.looks_emulated():
        return None
    found = peak_probe.machine_peak(environment.effective_threads(runner))
    if not found["cached"]:
        log(f"measured this machine's GEMM peak: int8 {found['int8_gops']:.0f}, fp32 {found['fp32_gops']:.0f} GOP/s")
    return found


def results_document(
    p: Plan,
    loaded: Loaded,
    rows: list[dict[str, Any]],
    load_before: dict[str, float],
    load_during: dict[str, float],
    overhead_ns: float,
    sampler: memory.RssSampler,
    scores: dict[str, Any],
    peak: dict[str, Any] | None,
    extra_warnings: list[str],
) -> dict[str, Any]:
    """The bench results document (schema 1) of one bundle's measurements: shared by bench and bench --interleave."""
    manifest, warnings, runner = p.manifest, list(p.warnings) + list(extra_warnings), loaded.runner
    peak_probe.fraction_rows(rows, manifest.get("precision"), peak)
    fastest_ms = min(r["min_ms"] for r in rows)
    fraction = latency.overhead_fraction(overhead_ns, fastest_ms)
    if fraction >= 0.01:
        warnings.append(
            f"the timing harness costs {fraction:.1%} of the fastest call; figures below ~{overhead_ns / 1e4:.2f} ms are inflated"
        )
    others = max(load_before["others"], load_during["others"])
    if others > environment.BUSY_LOAD:
        warnings.append(
            f"other processes used {others:.0%} of the CPUs around this run: latency is inflated and noisy; rerun on a quiet machine"
        )
    providers = list(runner.session.get_providers()) if hasattr(runner, "session") else list(runner.providers)
    threads_used = environment.effective_threads(runner)
    iterations, min_time_s = p.iterations, p.min_time_s
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "kind": "bench-results",
        "edgebert_version": __version__,
        "created_at": now_iso(),
        "bundle": bundle_section(p.bundle_dir, manifest),
        "environment": environment.describe(providers, manifest, threads_used, load_before, load_during, warnings),
        "settings": {
            "warmup": p.warmup,
            "iterations": latency.DEFAULT_ITERATIONS if iterations is None and min_time_s is None else iterations,
            "min_time_s": min_time_s,
            "batch_sizes": list(p.batch_sizes),
            "seq_lens": list(p.seq_lens),
            "real": p.real,
            "sort_by_length": bool(p.sort_by_length),
            "threads": threads_used,
            "threads_requested": p.threads,
            "dataset": str(p.dataset) if p.dataset is not None else None,
        },
        "size": memory.sizes(p.bundle_dir, manifest),
        "memory": {
            "rss_before_load_bytes": loaded.rss_before,
            "rss_after_load_bytes": loaded.rss_after,
            "model_load_bytes": loaded.rss_after - loaded.rss_before,
            "peak_rss_sampled_bytes": sampler.peak,
            "max_rss_os_bytes": memory.max_rss_os_bytes(),
            "rss_samples": sampler.samples,
            "arena": memory.arena_settings(runner),
            "device_bytes": memory.device_bytes(providers),
        },
        "latency": rows,
        "cold_start": loaded.cold_start,
        "harness": {
            "overhead_ms_per_call": overhead_ns / 1e6,
            "overhead_fraction_of_fastest": fraction,
            "fastest_ms": fastest_ms,
        },
        "limits": {
            "graph_macs": loaded.graph.to_dict() if loaded.graph else None,
            "peak": peak,
            "note": "achieved GOP/s = 2 x graph MACs per call (padded tokens) / call time, median over calls; peak: a "
            "short MatMul probe on this machine, same threads (edgebert.bench.peak)",
        },
        "accuracy": scores,
    }


def bundle_section(bundle_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    target = manifest["target"].get("name")
    source = manifest.get("source", {})
    return {
        "path": str(Path(bundle_dir).absolute()),
        "sha256": bundle_digest(manifest),
        "label": f"{target} {manifest['format']} {manifest.get('precision')}",
        "target": target,
        "format": manifest["format"],
        "precision": manifest.get("precision"),
        "model_type": source.get("model_type"),
        "parameters": source.get("parameters"),
        "num_layers": source.get("num_layers"),
        "stages": [s.get("stage") for s in manifest.get("stages") or [] if isinstance(s, dict)],
        "task": (manifest.get("task") or {}).get("name"),
    }
