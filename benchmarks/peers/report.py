"""Turn one run's measurements into peers.json and peers.md (WORK_DIR/reports/, published by benchmarks.publish) and
peers-samples.json (every timed call, kept in the work directory: committed reports hold no raw samples).

Nothing here is measured or typed in: every figure is derived from what `__main__.run` passed in. Ratios use
medians (p50) measured in the same round-robin run. "Optimum's best" is, per workload, the fastest of the
Optimum variants in that workload.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import __version__, cpu
from edgebert.bench.environment import BUSY_LOAD
from edgebert.bundle import now_iso

from benchmarks.peers import report_tasks

EAGER = "pytorch-eager-fp32"
WORKLOAD_TITLES = {"b1-s128": "batch 1 · seq 128", "b8-s128": "batch 8 · seq 128", "real-b1": "real lengths · batch 1"}
PACKAGES = (
    "onnxruntime", "torch", "transformers", "optimum", "optimum-onnx", "onnx", "numpy", "tokenizers",
    "sentence-transformers",
)  # fmt: skip


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        return sha.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(threads: int, loads: dict[str, dict]) -> dict[str, Any]:
    torch_engine = None
    try:
        import torch

        torch_engine = torch.backends.quantized.engine
    except ImportError:  # pragma: no cover - torch is needed for the PyTorch variants anyway
        pass
    return {
        "cpu_model": cpu.cpu_model(),
        "arch": cpu.machine(),
        "cpu_features": cpu.kernel_features(),
        "cores": cpu.usable_cores(),
        "threads_per_variant": threads,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in PACKAGES} | {"edgebert": __version__},
        "torch_quantized_engine": torch_engine,
        "git_commit": _git_commit(),
        "loadavg_at_end": list(os.getloadavg()),
        "cpu_load": loads,
    }


def assemble(
    *,
    command: str,
    variants,
    latency: dict,
    outputs: dict,
    labels: np.ndarray,
    memory: dict,
    macs: dict,
    gemm: dict,
    threads: int,
    settings: dict,
    loads: dict,
    model_dir: Path,
    seconds: float,
) -> dict[str, Any]:
    workloads = list(latency)
    optimum = [v.name for v in variants if v.family == "optimum"]
    best = {w: min(optimum, key=lambda n: latency[w][n]["p50_ms"]) for w in workloads} if optimum else {}
    eager_pred = outputs[EAGER].argmax(1) if EAGER in outputs else None
    records = []
    for v in variants:
        pred = outputs[v.name].argmax(1)
        peak = gemm["peak_gops"][v.precision if v.precision in gemm["peak_gops"] else "fp32"]
        rec: dict[str, Any] = {
            "name": v.name,
            "label": v.label,
            "family": v.family,
            "precision": v.precision,
            "runtime": v.runtime,
            "notes": v.notes,
            "size_bytes": v.size_bytes,
            "size_of": v.size_what,
            "build_s": round(v.build_s, 1),
            "model": {"dir": str(v.model_dir), "shape": macs[v.model_dir]["shape"]},
            "runner": v.spec.to_dict(),
            "accuracy": {
                "test": float((pred == labels).mean()),
                "size": int(len(labels)),
                "agreement_with_eager": None if eager_pred is None else float((pred == eager_pred).mean()),
                "predictions": pred.tolist(),
            },
            "memory": memory[v.name],
            "latency": {},
            "macs_per_call": {},
            "speedup_vs_eager": {},
            "speedup_vs_optimum_best": {},
            "fraction_of_peak": {},
        }
        for w in workloads:
            stats = latency[w][v.name]
            m = macs[v.model_dir][w]
            # Fixed-length calls: ops per median call; real lengths: all ops over all time (lengths vary by call).
            seconds_per_call = stats["p50_ms"] / 1e3 if w != "real-b1" else stats["mean_ms"] / 1e3
            rec["latency"][w] = {**stats, "samples_ms": [round(x, 4) for x in stats["samples_ms"]]}
            rec["macs_per_call"][w] = m
            rec["fraction_of_peak"][w] = 2 * m / seconds_per_call / (peak * 1e9)
            if EAGER in latency[w]:
                rec["speedup_vs_eager"][w] = latency[w][EAGER]["p50_ms"] / stats["p50_ms"]
            if w in best:
                rec["speedup_vs_optimum_best"][w] = latency[w][best[w]]["p50_ms"] / stats["p50_ms"]
        records.append(rec)
    return {
        **base_document(
            command=command, threads=threads, settings=settings, loads=loads, seconds=seconds, model_dir=model_dir
        ),
        "machine_limit": gemm,
        "optimum_best": best,
        "headline": headline(records, best, {n: o.argmax(1) == labels for n, o in outputs.items()}),
        "variants": records,
    }


def base_document(
    *, command: str, threads: int, settings: dict, loads: dict, seconds: float, model_dir: Path | None = None
) -> dict[str, Any]:
    """The run's document without classification rows (what `--tasks` without classification writes)."""
    return {
        "kind": "peers-results",
        "schema_version": 1,
        "command": command,
        "created_at": now_iso(),
        "seconds": round(seconds, 1),
        "model_dir": None if model_dir is None else str(model_dir),
        "environment": environment(threads, loads),
        "settings": settings,
        "machine_limit": None,
        "optimum_best": {},
        "headline": {},
        "variants": [],
    }


def mcnemar_p(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Two-sided exact McNemar test: could A and B be equally accurate, given the texts only one of them got right?"""
    b = int((correct_a & ~correct_b).sum())
    c = int((~correct_a & correct_b).sum())
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2.0**n
    return min(1.0, 2 * tail)


def headline(records: list[dict], best: dict[str, str], correct: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per workload: the fastest edgebert bundle at equal or better test accuracy than Optimum's best there.

    Also the fastest bundle whose accuracy is not significantly lower (paired exact McNemar test, p >= 0.05): on
    ~1,300 texts one text is ~0.08 points, so "equal" alone would turn on a single snippet.
    """
    by = {r["name"]: r for r in records}
    ours = [r for r in records if r["family"] == "edgebert"]
    out = {}
    for w, opt in best.items():
        bar = by[opt]["accuracy"]["test"]

        def fastest(rs: list[dict]) -> dict | None:
            return min(rs, key=lambda r: r["latency"][w]["p50_ms"]) if rs else None

        def summary(r: dict | None) -> dict | None:
            if r is None:
                return None
            return {
                "name": r["name"],
                "accuracy": r["accuracy"]["test"],
                "ratio": r["speedup_vs_optimum_best"][w],
                "accuracy_delta_points": 100 * (r["accuracy"]["test"] - bar),
                "mcnemar_p": mcnemar_p(correct[r["name"]], correct[opt]),
            }

        not_worse = [
            r for r in ours if r["accuracy"]["test"] >= bar or mcnemar_p(correct[r["name"]], correct[opt]) >= 0.05
        ]
        out[w] = {
            "optimum_best": opt,
            "optimum_accuracy": bar,
            "equal_or_better": summary(fastest([r for r in ours if r["accuracy"]["test"] >= bar])),
            "not_significantly_worse": summary(fastest(not_worse)),
            "fastest": summary(fastest(ours)),
        }
    return out


def _mb(n: float | None) -> str:
    return "—" if n is None else f"{n / 1e6:.1f}"


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}×"


def markdown(doc: dict[str, Any]) -> str:
    env, rows = doc["environment"], doc["variants"]
    wls = list(doc["optimum_best"]) or (list(rows[0]["latency"]) if rows else [])
    v = env["versions"]
    load = env["cpu_load"]
    lines = [
        "# edgebert vs Optimum, PyTorch and sentence-transformers — each model's variants side by side, one run",
        "",
        f"Generated by `{doc['command']}` on {doc['created_at']} (took {doc['seconds'] / 60:.1f} min: "
        + ", ".join(f"{k.replace('_', ' ')} {v / 60:.1f}" for k, v in doc["settings"].get("phases_s", {}).items())
        + f"; git {env['git_commit']}).",
        "Every figure below was measured in that run; absolute times drift on this shared machine, ratios within the run do not.",
        "",
        "## Environment",
        f"- CPU: {env['cpu_model']} ({env['arch']}), {env['cores']} usable cores; kernel features: {', '.join(env['cpu_features'])}",
        f"- threads per variant: {env['threads_per_variant']} (onnxruntime intra-op, torch.set_num_threads); PyTorch quantized engine: {env['torch_quantized_engine']}",
        f"- onnxruntime {v['onnxruntime']}, torch {v['torch']}, transformers {v['transformers']}, optimum {v['optimum']} "
        f"(optimum-onnx {v['optimum-onnx']}), sentence-transformers {v.get('sentence-transformers')}, onnx {v['onnx']}, numpy {v['numpy']}, edgebert {v['edgebert']}; Python {env['python']}; {env['os']}",
        f"- CPU load from other processes: {load['before']['others']:.0%} of all CPUs while idle before the run, "
        + f"{load['during_timing']['others']:.0%} during the timing phase (load average at the end: "
        f"{', '.join(f'{x:.2f}' for x in env['loadavg_at_end'])}). " + _gate_text(load.get("quiet_gate")),
    ]
    if not rows:  # --tasks without classification: only the other tasks' sections
        return "\n".join(lines + report_tasks.sections(doc.get("tasks", {}))) + "\n"
    lines += [
        f"- model: `{doc['model_dir']}`; test split: {rows[0]['accuracy']['size']} texts; timed rounds per variant: "
        + ", ".join(f"{WORKLOAD_TITLES.get(w, w)} {n}" for w, n in doc["settings"]["plan"].items())
        + f" (after {doc['settings']['warmup']} untimed calls each)",
        "",
        "## Results: sequence classification (the default task model)",
        "",
    ]
    gate = load.get("quiet_gate") or {}
    if gate.get("rounds") and gate["busy_rounds_kept"] > 0.1 * gate["rounds"]:
        lines += [
            f"**Warning:** {gate['busy_rounds_kept'] / gate['rounds']:.0%} of the timed rounds ran while other processes "
            f"used more than {gate['threshold_others']:.0%} of the CPUs. Round-robin order spreads that over all variants, "
            "but contention hurts some runtimes more than others (two-thread PyTorch worst: its threads wait on each other "
            "at every operator), so treat these ratios as a busy machine's; rerun with a larger `--wait-quiet`.",
            "",
        ]
    elif not gate and load["during_timing"]["others"] > BUSY_LOAD:
        lines += [
            f"**Warning:** other processes used {load['during_timing']['others']:.0%} of the CPUs while the variants were "
            "timed. Round-robin order spreads that over all variants, but contention hurts some runtimes more than others "
            "(two-thread PyTorch worst: its threads wait on each other at every operator), so treat these ratios as "
            "a busy machine's, and rerun on a quiet one (`--wait-quiet`).",
            "",
        ]
    lines += [
        "p50 / p90 latency in ms. Variants were timed round-robin (A B C, B C A, …) on identical tokenized inputs: "
        "seq 128 rows are test texts packed end to end (no padding); real lengths are the test texts one by one, each "
        "padded to nothing but itself. Accuracy is on the test split, from those very real-length calls.",
        "",
        "| variant | precision | size MB | "
        + " | ".join(f"{WORKLOAD_TITLES.get(w, w)}" for w in wls)
        + " | peak RSS MB | test acc. | agree w/ eager |",
        "|---|---|--:|" + "--:|" * len(wls) + "--:|--:|--:|",
    ]
    for r in rows:
        mem = r["memory"]
        lat = " | ".join(f"{r['latency'][w]['p50_ms']:.2f} / {r['latency'][w]['p90_ms']:.2f}" for w in wls)
        lines.append(
            f"| {r['label']} | {r['precision']} | {_mb(r['size_bytes'])} | {lat} | {_mb(mem.get('peak_rss_bytes'))} | "
            f"{r['accuracy']['test']:.2%} | {r['accuracy']['agreement_with_eager']:.2%} |"
        )
    lines += [
        "",
        "### Speed-up (ratio of p50s)",
        "",
        "| variant | "
        + " | ".join(f"× eager, {WORKLOAD_TITLES.get(w, w)}" for w in wls)
        + " | "
        + " | ".join(f"× Optimum best, {WORKLOAD_TITLES.get(w, w)}" for w in wls)
        + " |",
        "|---|" + "--:|" * (2 * len(wls)),
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | "
            + " | ".join(_x(r["speedup_vs_eager"].get(w)) for w in wls)
            + " | "
            + " | ".join(_x(r["speedup_vs_optimum_best"].get(w)) for w in wls)
            + " |"
        )
    by = {r["name"]: r["label"] for r in rows}
    lines += [
        "",
        "Optimum's best (fastest Optimum variant) per workload: "
        + "; ".join(f"{WORKLOAD_TITLES.get(w, w)}: {by[n]}" for w, n in doc["optimum_best"].items())
        + ".",
    ]
    lines += ["", "## Headline: edgebert's best bundle vs Optimum's best preset", ""]
    lines += [
        "Per workload, against the fastest Optimum variant there. *Equal or better*: test accuracy at least Optimum's. "
        "*Not significantly worse*: or lower, but not significantly (paired exact McNemar test on the test texts, p ≥ 0.05; "
        f"one text is {100 / rows[0]['accuracy']['size']:.2f} points here).",
        "",
    ]

    def said(h: dict | None) -> str:
        return (
            (
                f"**{h['ratio']:.2f}×** with {by[h['name']]} ({h['accuracy']:.2%}, {h['accuracy_delta_points']:+.2f} points, "
                f"McNemar p = {h['mcnemar_p']:.2f})"
            )
            if h
            else "no edgebert bundle qualifies"
        )

    for w, h in doc["headline"].items():
        lines.append(f"- {WORKLOAD_TITLES.get(w, w)}, vs {by[h['optimum_best']]} ({h['optimum_accuracy']:.2%}):")
        lines.append(f"  - equal or better accuracy: {said(h['equal_or_better'])}")
        lines.append(f"  - not significantly worse: {said(h['not_significantly_worse'])}")
        lines.append(f"  - fastest edgebert bundle at any accuracy: {said(h['fastest'])}")
    lines += _limit_section(doc, rows, wls)
    lines += _memory_section(rows)
    lines += ["", "## Notes", ""]
    lines += [f"- {r['label']}: {n}" for r in rows for n in r["notes"]]
    lines += [
        "- ONNX variants (Optimum's and edgebert's) all run through the same onnxruntime session code "
        "(`edgebert.runtime.OnnxRunner`: ORT_ENABLE_ALL, the same thread count); Optimum's `ORTModel` Python wrapper is not timed.",
        f"- Every variant runs with {doc['environment']['threads_per_variant']} threads; a bundle's own thread setting "
        "(e.g. arm64-pi4's 4 for the board's 4 cores) is overridden so all variants get the same cores.",
        f"- A {doc['settings']['gap_ms']} ms pause before every timed call (outside the timed window) lets the previous variant's "
        "worker threads (PyTorch's OpenMP pool, onnxruntime's pool) stop spinning: a precaution, since with as many threads "
        "as cores a pool still spinning would take cores from the next variant.",
        "- Sizes: the model file(s) a deployment ships (ONNX incl. external data, TorchScript archive, safetensors); "
        "the PyTorch int8 figure is `torch.save(state_dict)` of the quantized model, written only to be measured.",
    ]
    return "\n".join(lines + report_tasks.sections(doc.get("tasks", {}))) + "\n"


def _gate_text(gate: dict | None) -> str:
    if not gate:
        return ""
    if not gate["budget_s"]:
        return (
            f"No quiet gate (`--wait-quiet 0`): {gate['busy_rounds_kept']} of {gate['rounds']} rounds ran while others used "
            f"more than {gate['threshold_others']:.0%} of the CPUs."
        )
    return (
        f"Quiet gate: blocks of rounds timed while others used more than {gate['threshold_others']:.0%} of the CPUs were "
        f"redone after they quietened ({gate['discarded_rounds']} rounds discarded, {gate['waited_s']:.0f} s of the "
        f"{gate['budget_s']:.0f} s budget waited); {gate['busy_rounds_kept']} of {gate['rounds']} kept rounds still ran busy."
    )


def _limit_section(doc: dict, rows: list[dict], wls: list[str]) -> list[str]:
    gemm = doc["machine_limit"]
    lines = [
        "",
        "## How close to the machine's limit",
        "",
        f"onnxruntime's own GEMM throughput on this machine ({gemm['threads']} threads), one MatMul (fp32) or MatMulInteger "
        "(uint8 × int8) node, p50 of repeated calls:",
        "",
        "| precision | M×K×N | p50 ms | GOP/s |",
        "|---|---|--:|--:|",
    ]
    lines += [
        f"| {g['precision']} | {g['m']}×{g['k']}×{g['n']} | {g['p50_ms']:.3f} | {g['gops']:.0f} |"
        for g in gemm["shapes"]
    ]
    lines += [
        "",
        f"The limit is the best of those: fp32 {gemm['peak_gops']['fp32']:.0f} GFLOP/s, int8 {gemm['peak_gops']['int8']:.0f} GOP/s. "
        "Each variant's ops per call are 2 × its multiply-accumulates (encoder linears + attention at the call's length, from "
        "the model's own shapes); int8 variants are held against the int8 limit, fp32 against fp32 (PyTorch variants too: "
        "same machine, onnxruntime's kernels as the yardstick).",
        "",
        "| variant | "
        + " | ".join(f"GMAC/call, {WORKLOAD_TITLES.get(w, w)}" for w in wls)
        + " | "
        + " | ".join(f"% of limit, {WORKLOAD_TITLES.get(w, w)}" for w in wls)
        + " |",
        "|---|" + "--:|" * (2 * len(wls)),
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | "
            + " | ".join(f"{r['macs_per_call'][w] / 1e9:.3f}" for w in wls)
            + " | "
            + " | ".join(f"{100 * r['fraction_of_peak'][w]:.0f}%" for w in wls)
            + " |"
        )
    return lines


def _memory_section(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## Memory",
        "",
        "Each variant measured in a fresh process that imports only its runtime, loads the variant and runs it on the "
        "batch-8 inputs. Peak RSS is the OS's high-water mark of that whole process (Python and imports included); "
        "the other columns are RSS added by each step.",
        "",
        "| variant | peak RSS MB | imports MB | load MB | run MB |",
        "|---|--:|--:|--:|--:|",
    ]
    for r in rows:
        m = r["memory"]
        if "error" in m:
            lines.append(f"| {r['label']} | {m['error']} | | | |")
            continue
        lines.append(
            f"| {r['label']} | {_mb(m['peak_rss_bytes'])} | {_mb(m['import_bytes'])} | {_mb(m['load_bytes'])} | {_mb(m['run_bytes'])} |"
        )
    return lines


def split_samples(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document without its raw per-call timings, and those timings ({variant: {workload: [ms, ...]}} for the
    classification rows, {task: {variant: {workload: [ms, ...]}}} for the embedding and NER rows)."""
    public = {**doc, "variants": []}
    samples: dict[str, Any] = {}
    for v in doc["variants"]:
        latency = {w: {k: x for k, x in stats.items() if k != "samples_ms"} for w, stats in v["latency"].items()}
        samples[v["name"]] = {w: stats.get("samples_ms") for w, stats in v["latency"].items()}
        public["variants"].append({**v, "latency": latency})
    for task, sec in doc.get("tasks", {}).items():  # the embedding and NER sections: {task: {variant: {...}}}
        rows = []
        for v in sec["variants"]:
            latency = {w: {k: x for k, x in stats.items() if k != "samples_ms"} for w, stats in v["latency"].items()}
            samples.setdefault(task, {})[v["name"]] = {w: stats.get("samples_ms") for w, stats in v["latency"].items()}
            rows.append({**v, "latency": latency})
        public["tasks"] = {**public.get("tasks", {}), task: {**sec, "variants": rows}}
    return public, samples


def write(doc: dict[str, Any], work: Path) -> Path:
    """peers.json and peers.md into WORK/reports/ (what benchmarks.publish copies), peers-samples.json into WORK; each
    written next to its final name, then renamed: no reader ever sees half a report."""
    public, samples = split_samples(doc)
    reports = Path(work) / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    raw = {"command": doc["command"], "created_at": doc["created_at"], "samples_ms": samples}
    for path, text in (
        (reports / "peers.json", json.dumps(public, indent=1) + "\n"),
        (reports / "peers.md", markdown(public)),
        (Path(work) / "peers-samples.json", json.dumps(raw) + "\n"),
    ):
        tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    return reports
