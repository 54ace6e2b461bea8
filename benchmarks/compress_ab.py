"""Side-by-side latency of exported bundles, in one process, variants interleaved A B A B.

    python benchmarks/compress_ab.py BASELINE_BUNDLE CANDIDATE_BUNDLE [...] [--rounds 10] [--calls 20] [--threads 2]

Why interleaved: on a shared machine the background load drifts by tens of percent within minutes; timing A for a
minute and then B would measure the drift. Each round times `calls` calls of every bundle in turn (after a warm-up),
and the reported figure is the ratio of the pooled medians, plus the spread of per-round ratios (min–max) so a
reader sees how stable it was. Two workloads: batch 1 at a fixed sequence length (synthetic, padded to the length),
and batch 1 over the bundle's own evaluation texts at their real token lengths. Uses edgebert.bench.latency.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from edgebert.bench.latency import summarize, time_calls
from edgebert.bundle import read_manifest, verify_files
from edgebert.runtime import Encoder, OnnxRunner


def synthetic_inputs(manifest: dict, seq_len: int) -> dict[str, np.ndarray]:
    ids = np.full((1, seq_len), 1000, dtype=np.int64)
    arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return {k: arrays[k] for k in manifest["inputs"]}


def real_inputs(path: Path, manifest: dict, n: int) -> list[dict[str, np.ndarray]]:
    texts = [json.loads(line)["text"] for line in (path / manifest["reference"]["file"]).read_text().splitlines()[:n]]
    enc = Encoder(path, manifest)
    return [enc([t]) for t in texts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="+", type=Path, help="baseline first, then the candidates")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--calls", type=int, default=20, help="timed calls per bundle per round")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--real-texts", type=int, default=200, help="evaluation texts cycled through for the real-length workload")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args()

    variants = []
    for path in args.bundles:
        m = read_manifest(path)
        verify_files(path, m)
        variants.append({"path": path, "manifest": m, "runner": OnnxRunner(path, m, threads=args.threads),
                         "synthetic": synthetic_inputs(m, args.seq_len), "real": real_inputs(path, m, args.real_texts)})
    results = {}
    for workload in ("synthetic", "real"):
        samples = {i: [] for i in range(len(variants))}
        per_round = {i: [] for i in range(len(variants))}
        for v in variants:  # warm-up, untimed
            for x in (v[workload] if workload == "real" else [v[workload]] * 10)[:10]:
                v["runner"](x)
        for r in range(args.rounds):
            for i, v in enumerate(variants):
                if workload == "synthetic":
                    fn = lambda v=v: v["runner"](v["synthetic"])  # noqa: E731
                else:
                    it = iter(v["real"][(r * args.calls + k) % len(v["real"])] for k in range(args.calls))
                    fn = lambda v=v, it=it: v["runner"](next(it))  # noqa: E731
                ns = time_calls(fn, warmup=0, iterations=args.calls)
                samples[i].extend(ns.tolist())
                per_round[i].append(float(np.median(ns)))
        base = summarize(samples[0], 1, args.seq_len)["p50_ms"]
        rows = []
        for i, v in enumerate(variants):
            s = summarize(samples[i], 1, args.seq_len)
            ratios = [b / c for b, c in zip(per_round[0], per_round[i])]
            rows.append({"bundle": str(v["path"]), "precision": v["manifest"]["precision"],
                         "layers": v["manifest"]["source"].get("num_layers"), "parameters": v["manifest"]["source"]["parameters"],
                         "onnx_bytes": v["manifest"]["export"]["bytes"], "test_accuracy": v["manifest"]["reference"]["bundle_accuracy"],
                         "p50_ms": round(s["p50_ms"], 3), "p90_ms": round(s["p90_ms"], 3), "speedup_vs_first": round(base / s["p50_ms"], 3),
                         "per_round_speedup_min": round(min(ratios), 3), "per_round_speedup_max": round(max(ratios), 3)})
        results[workload] = rows
    results["settings"] = {"rounds": args.rounds, "calls": args.calls, "seq_len": args.seq_len, "real_texts": args.real_texts,
                           "threads": args.threads, "loadavg_1min_after": os.getloadavg()[0]}
    for workload in ("synthetic", "real"):
        label = f"batch 1, seq {args.seq_len}" if workload == "synthetic" else "batch 1, real lengths"
        print(f"\n{label}")
        for row in results[workload]:
            print(f"  {row['bundle']}: p50 {row['p50_ms']:.2f} ms  ×{row['speedup_vs_first']:.2f} "
                  f"(rounds {row['per_round_speedup_min']:.2f}–{row['per_round_speedup_max']:.2f})  "
                  f"test acc {row['test_accuracy']:.2%}  {row['onnx_bytes'] / 1e6:.1f} MB")
    print(f"\nload average (1 min) after the run: {results['settings']['loadavg_1min_after']:.1f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
