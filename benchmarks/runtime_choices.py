"""Cheap runtime choices for one bundle, measured interleaved: do intra-op threads, spinning or the graph
optimisation level move it closer to the machine's peak at real lengths?

    python benchmarks/runtime_choices.py BUNDLE [--rounds 300] [--work build/runtime-choices]
    python -m benchmarks.publish build/runtime-choices       # copies WORK/reports/runtime-choices.json into reports/

Every variant is an onnxruntime session of the same model file with one setting changed from the bundle target's
(the first row); all are timed round-robin on the same evaluation texts at batch 1 (edgebert.bench.roundrobin,
quiet gate included), and each ratio to the target's setting carries its paired 95 % bootstrap interval. A choice
is worth recording in a target only when its whole interval is below 1 / 1.05 (compare's "improved" at 5 %).

Interleaving answers "which is faster on a machine shared with the others", not "on a device that runs only this
model": a spinning session keeps its threads spinning into the next variant's call. So each variant is also timed
*alone*, against the target's setting: alternating blocks of `--block-calls` consecutive calls (target, variant,
variant, target, ...), the ratio being the median over block pairs of the two blocks' median call times, with a
bootstrap interval over the pairs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edgebert.bench import bootstrap
from edgebert import cpu
from edgebert.bench.latency import summarize
from edgebert.bench.macs import count_macs
from edgebert.bench.peak import machine_peak
from edgebert.bench.roundrobin import QuietGate, round_robin
from edgebert.bench.plan import check_bundle
from edgebert.runtime import GRAPH_LEVELS, Encoder


def session(path: Path, threads: int, spinning: bool, level: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_LEVELS[level])
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, x)[0]


def first_name(runners: dict) -> str:
    return next(iter(runners))


def alone_ratio(target, variant, calls, args) -> bootstrap.RatioCI | None:
    """variant / target timed alone: alternating blocks of consecutive calls, ABBA order (module docstring)."""
    if variant is target:
        return None
    per_block = {"t": [], "v": []}
    for b in range(2 * args.blocks):
        for who in ("t", "v") if b % 2 == 0 else ("v", "t"):
            fn = target if who == "t" else variant
            ns = []
            for j in range(args.block_calls):
                x = calls[(b * args.block_calls + j) % len(calls)]
                t0 = time.perf_counter_ns()
                fn(x)
                ns.append(time.perf_counter_ns() - t0)
            per_block[who].append(float(np.median(ns)))
    return bootstrap.ratio_ci(per_block["t"], per_block["v"], paired=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--quiet-wait", type=float, default=60.0)
    ap.add_argument("--blocks", type=int, default=12, help="block pairs per variant for the timing alone")
    ap.add_argument("--block-calls", type=int, default=200, help="consecutive calls per block")
    ap.add_argument("--work", type=Path, default=Path("build/runtime-choices"), help="its reports/ gets the JSON")
    args = ap.parse_args()
    started = time.time()
    manifest = check_bundle(args.bundle)
    model = args.bundle / manifest["model_file"]
    runtime = manifest["target"]["runtime"]
    threads, level = int(runtime.get("intra_op_threads", 0)), runtime.get("graph_optimization", "all")
    variants = {
        f"target ({threads} threads, spinning, {level})": (threads, True, level),
        "1 thread": (1, True, level),
        "no spinning": (threads, False, level),
        "graph level extended": (threads, True, "extended"),
        "graph level basic": (threads, True, "basic"),
    }
    runners = {name: session(model, *v) for name, v in variants.items()}
    enc = Encoder(args.bundle, manifest)
    texts = [
        json.loads(line)["text"] for line in (args.bundle / manifest["reference"]["file"]).read_text().splitlines()
    ]
    inputs = [enc([t]) for t in texts]
    order = np.random.default_rng(0).permutation(len(inputs))
    calls = [inputs[i] for i in order]
    gate = QuietGate(budget_s=args.quiet_wait)
    samples, _ = round_robin(runners, {n: calls for n in runners}, args.rounds, warmup=20, gate=gate)
    alone = {name: alone_ratio(runners[first_name(runners)], runners[name], calls, args) for name in runners}
    graph = count_macs(model)
    lens = np.array([calls[j % len(calls)]["attention_mask"].shape[1] for j in range(args.rounds)])
    ops = 2.0 * np.array([graph.per_call(1, int(n)) for n in lens])
    first = next(iter(runners))
    rows = []
    for name, (t, spin, lvl) in variants.items():
        peak = machine_peak(t or cpu.usable_cores())["int8_gops"]  # the peak at the variant's own thread count
        s = summarize(samples[name], 1, float(lens.mean()))
        ci = bootstrap.ratio_ci(samples[first], samples[name], paired=True, cycle=len(runners))
        gops = float(np.median(ops / samples[name]))
        rows.append(
            {
                "variant": name,
                "threads": t,
                "spinning": spin,
                "graph_optimization": lvl,
                "p50_ms": round(s["p50_ms"], 3),
                "ratio_to_target": round(ci.ratio, 3),
                "ci95": [round(ci.low, 3), round(ci.high, 3)],
                "verdict_5pct": bootstrap.verdict(ci, 5.0),
                "alone_ratio_to_target": alone[name] and round(alone[name].ratio, 3),
                "alone_ci95": alone[name] and [round(alone[name].low, 3), round(alone[name].high, 3)],
                "alone_verdict_5pct": alone[name] and bootstrap.verdict(alone[name], 5.0),
                "achieved_gops": round(gops, 1),
                "fraction_of_int8_peak": round(gops / peak, 4),
                "int8_peak_gops": peak,
            }
        )
    doc = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "bundle": str(args.bundle),
        "bundle_target": manifest["target"]["name"],
        "bundle_precision": manifest.get("precision"),
        "bundle_source": manifest["source"].get("path"),
        "rounds": args.rounds,
        "alone": {"block_pairs": args.blocks, "calls_per_block": args.block_calls},
        "mean_tokens": float(lens.mean()),
        "gate": gate.to_dict(),
        "rows": rows,
    }
    for r in rows:
        print(
            f"{r['variant']:<38} p50 {r['p50_ms']:.3f} ms  x{r['ratio_to_target']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] "
            f"{r['verdict_5pct']:<24} {r['achieved_gops']:.1f} GOP/s = {r['fraction_of_int8_peak']:.1%} of the int8 peak"
            + (
                f"; alone x{r['alone_ratio_to_target']:.3f} {r['alone_ci95']} {r['alone_verdict_5pct']}"
                if r["alone_ci95"]
                else ""
            )
        )
    print(f"quiet gate: {gate.to_dict()}")
    out = args.work / "reports" / "runtime-choices.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}; publish with: python -m benchmarks.publish {args.work}")


if __name__ == "__main__":
    main()
