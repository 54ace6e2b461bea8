"""`bench_bundle`: verify a bundle, then time it, measure its memory and score it, on this machine.

The order matters: sha256s are verified and every input (counts, sizes, dataset, output path) is checked
before anything is timed, so a mistake fails in a second, not after minutes. The bundle runs through
`edgebert.runtime` — the same tokenizer and session code that export's parity check validated.

Checking lives in `bench.plan`, the timed inputs in `bench.inputs`, the document in `bench.results_document`; this
module loads and measures. Their public names are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import importlib
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgebert.bench import environment, latency, macs, memory, scoring
from edgebert.bench import peak as peak_probe
from edgebert.bench.inputs import real_batches, synthetic_inputs
from edgebert.bench.plan import DEFAULT_BATCH_SIZES, DEFAULT_SEQ_LEN, Plan, check_bundle, plan
from edgebert.bench.results_document import RESULTS_SCHEMA_VERSION, bundle_section, results_document, write_results
from edgebert.runtime import Encoder, make_runner

__all__ = [
    "DEFAULT_BATCH_SIZES",
    "DEFAULT_SEQ_LEN",
    "RESULTS_SCHEMA_VERSION",
    "SHUFFLE_SEED",
    "Loaded",
    "Plan",
    "bench_bundle",
    "bundle_section",
    "check_bundle",
    "load",
    "machine_peak_for",
    "plan",
    "real_batches",
    "real_row_stats",
    "results_document",
    "synthetic_inputs",
    "synthetic_row_stats",
    "write_results",
]

SHUFFLE_SEED = 0
MB = 1e6  # decimal megabytes, as every report prints them

# progress(description, total calls or None) -> advance(n): how the CLI draws a bar; the library stays silent.
Progress = Callable[[str, "int | None"], Callable[[int], None]]


Log = Callable[[str], None]


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
