"""The bench results document (schema 1) of one bundle's measurements, and its atomic write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebert import bundle as bundles
from edgebert._version import __version__
from edgebert.bench import environment, latency, memory
from edgebert.bench import peak as peak_probe
from edgebert.bench.plan import Plan
from edgebert.bundle import bundle_digest, now_iso

if TYPE_CHECKING:
    from edgebert.bench.runner import Loaded

RESULTS_SCHEMA_VERSION = 1


def write_results(doc: dict[str, Any], out: Path) -> Path:
    """Write the results document atomically (temp file + rename, parents created, the user's umask)."""
    return bundles.write_text_atomic(Path(out).absolute(), json.dumps(doc, indent=2) + "\n")


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
