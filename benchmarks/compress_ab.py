"""Side-by-side latency of exported bundles, in one process, variants interleaved A B A B.

    python benchmarks/compress_ab.py BASELINE_BUNDLE CANDIDATE_BUNDLE [...] [--rounds 10] [--calls 20] [--threads 2]

Why interleaved: on a shared machine the background load drifts by tens of percent within minutes; timing A for a
minute and then B would measure the drift. The timing is the product's (edgebert.bench.roundrobin: one call per
bundle in turn, rotated order, blocks redone while other processes load the CPU); `rounds` x `calls` such calls per
bundle. The reported figure is the ratio of the pooled medians with its paired 95% bootstrap interval, plus the
spread of ratios over `rounds` consecutive chunks (min–max) so a reader sees how stable it was.
`edgebert bench A B --interleave --real` gives the same in the product; this script keeps the report's format. Two
workloads: batch 1 at a fixed sequence length (synthetic: exactly that many real token ids, edgebert.bench.inputs),
and batch 1 over the bundle's own evaluation texts at their real token lengths. Uses edgebert.bench.latency.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from edgebert.bench.bootstrap import ratio_ci
from edgebert.bench.inputs import synthetic_inputs
from edgebert.bench.latency import summarize
from edgebert.bench.roundrobin import QuietGate, round_robin
from edgebert.bundle import read_manifest, verify_files
from edgebert.runtime import Encoder, OnnxRunner


def reference_texts(path: Path, manifest: dict, n: int) -> list[str]:
    return [json.loads(line)["text"] for line in (path / manifest["reference"]["file"]).read_text().splitlines()[:n]]


def real_inputs(path: Path, manifest: dict, n: int) -> list[dict[str, np.ndarray]]:
    enc = Encoder(path, manifest)
    return [enc([t]) for t in reference_texts(path, manifest, n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="+", type=Path, help="baseline first, then the candidates")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--calls", type=int, default=20, help="timed calls per bundle per round")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument(
        "--real-texts", type=int, default=200, help="evaluation texts cycled through for the real-length workload"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--quiet-wait", type=float, default=60.0, help="seconds in all to wait for other processes to quieten"
    )
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args()

    variants = []
    for path in args.bundles:
        m = read_manifest(path)
        verify_files(path, m)
        variants.append(
            {
                "path": path,
                "manifest": m,
                "runner": OnnxRunner(path, m, threads=args.threads),
                # the product's synthetic rows: the bundle's reference texts' real token ids, exactly seq_len of them
                "synthetic": synthetic_inputs(
                    Encoder(path, m), reference_texts(path, m, args.real_texts), 1, args.seq_len
                ),
                "real": real_inputs(path, m, args.real_texts),
            }
        )
    results = {}
    names = [str(i) for i in range(len(variants))]
    runners = {n: v["runner"] for n, v in zip(names, variants)}
    gate = QuietGate(budget_s=args.quiet_wait)
    for workload in ("synthetic", "real"):
        inputs = {n: ([v["synthetic"]] if workload == "synthetic" else v["real"]) for n, v in zip(names, variants)}
        ns, _ = round_robin(runners, inputs, args.rounds * args.calls, warmup=10, gate=gate)
        samples = {i: ns[n].tolist() for i, n in enumerate(names)}
        # A "round" of the report: `calls` consecutive round-robin rounds; its medians give the spread of ratios.
        per_round = {i: [float(np.median(c)) for c in np.array_split(ns[n], args.rounds)] for i, n in enumerate(names)}
        base = summarize(samples[0], 1, args.seq_len)["p50_ms"]
        rows = []
        for i, v in enumerate(variants):
            s = summarize(samples[i], 1, args.seq_len)
            ratios = [b / c for b, c in zip(per_round[0], per_round[i])]
            ci = ratio_ci(samples[i], samples[0], paired=True, cycle=len(names))  # first / this: a speed-up, paired
            rows.append(
                {
                    "bundle": str(v["path"]),
                    "precision": v["manifest"]["precision"],
                    "layers": v["manifest"]["source"].get("num_layers"),
                    "parameters": v["manifest"]["source"]["parameters"],
                    "onnx_bytes": v["manifest"]["export"]["bytes"],
                    "test_accuracy": v["manifest"]["reference"]["bundle_accuracy"],
                    "p50_ms": round(s["p50_ms"], 3),
                    "p90_ms": round(s["p90_ms"], 3),
                    "speedup_vs_first": round(base / s["p50_ms"], 3),
                    "speedup_ci95": [round(ci.low, 3), round(ci.high, 3)],
                    "per_round_speedup_min": round(min(ratios), 3),
                    "per_round_speedup_max": round(max(ratios), 3),
                }
            )
        results[workload] = rows
    results["gate"] = gate.to_dict()
    results["settings"] = {
        "rounds": args.rounds,
        "calls": args.calls,
        "seq_len": args.seq_len,
        "real_texts": args.real_texts,
        "threads": args.threads,
        "loadavg_1min_after": os.getloadavg()[0],
    }
    for workload in ("synthetic", "real"):
        label = f"batch 1, seq {args.seq_len}" if workload == "synthetic" else "batch 1, real lengths"
        print(f"\n{label}")
        for row in results[workload]:
            print(
                f"  {row['bundle']}: p50 {row['p50_ms']:.2f} ms  ×{row['speedup_vs_first']:.2f} "
                f"[{row['speedup_ci95'][0]:.2f}–{row['speedup_ci95'][1]:.2f}] "
                f"(rounds {row['per_round_speedup_min']:.2f}–{row['per_round_speedup_max']:.2f})  "
                f"test acc {row['test_accuracy']:.2%}  {row['onnx_bytes'] / 1e6:.1f} MB"
            )
    print(f"\nload average (1 min) after the run: {results['settings']['loadavg_1min_after']:.1f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
