"""Does `edgebert compare` tell noise from a real slowdown? Repeated pairs on one int8 bundle, interleaved.

    python benchmarks/compare_noise.py [--bundle DIR] [--pairs 10] [--iterations 150] [--threshold 5%]
                                       [--work /tmp/compare-noise]   # WORK/reports/compare-noise.md and .json
    python -m benchmarks.publish /tmp/compare-noise                   # copies them into reports/

Each pair is one `bench --interleave` of the bundle against itself (two documents of one set, as `edgebert bench A
A --interleave --out-dir` writes them), then `compare` on the two documents with the threshold band:
- "same": both sides are the same bundle, unchanged. The right answer is "no change".
- "planted": the candidate's runner, after each call, sleeps for 10 % of the time that call took: a 10 % slowdown
  that scales with the call, planted in the timing loop (bench_interleaved's `wrap` hook), not in the model. A sleep
  rather than a busy-wait because a busy-wait competes for the cores with onnxruntime's still-spinning threads and
  the neighbours, and under load it planted 25-70 % instead of 10 % (measured in a first run). The sleep overshoots
  by the scheduler's wake-up latency (tens of microseconds), so the planted figure is a little over 10 %: the right
  answer is "regressed".
Workloads: batch 1 at real lengths (the bundle's evaluation texts) and batch 1 at 32 tokens. Other processes on a
shared machine are reported, not hidden: each pair's foreign CPU share is recorded and the compare runs with
--allow-busy. Without --bundle, the bundle is the packaged all-MiniLM-L6-v2 encoder (real weights; a 2-label head
set along the pooled embeddings' first principal direction, untrained: it does not change the latency) exported int8 for x86-avx512-vnni with 200 Rotten Tomatoes
test texts. Writes OUT.json (the figures, no raw samples) and OUT.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

PLANTED = 0.10


def build_bundle(work: Path) -> Path:
    """MiniLM (packaged weights) with a 2-label head, exported int8: a realistic call time without training."""
    import transformers

    from edgebert import data, tasks
    from edgebert.export.exporter import export_bundle
    from edgebert.targets import load_target

    out = work / "minilm-int8"
    if (out / "manifest.json").is_file():
        return out
    model_dir, ds = work / "minilm", work / "texts.jsonl"
    test = tasks.default_splits()["test"]
    data.LabelledTexts(test.texts[:200], test.labels[:200], "rotten-tomatoes:test[:200]").to_jsonl(ds)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(tasks.encoder_dir()), num_labels=2, id2label={0: "fresh", 1: "rotten"}, label2id={"fresh": 0, "rotten": 1}
    )
    import torch

    # A head with real margins: an untrained one sits at ~0 and int8 flips labels at the export's parity check. Its
    # weights score the texts along the pooled embeddings' first principal direction, where they spread the most.
    tok = transformers.AutoTokenizer.from_pretrained(str(tasks.encoder_dir()))
    with torch.no_grad():
        enc = tok(list(test.texts[:200]), padding=True, truncation=True, max_length=128, return_tensors="pt")
        pooled = model.bert(**enc).pooler_output
        centre = pooled.mean(0)
        direction = torch.linalg.svd(pooled - centre, full_matrices=False).Vh[0]
        scale = 4.0 / float(((pooled - centre) @ direction).std())
        model.classifier.weight.copy_(torch.stack([direction, -direction]) * scale)
        model.classifier.bias.copy_(torch.stack([-(centre @ direction), centre @ direction]) * scale)
    model.save_pretrained(str(model_dir), safe_serialization=True)
    transformers.AutoTokenizer.from_pretrained(str(tasks.encoder_dir())).save_pretrained(str(model_dir))
    # The head is untrained, so label agreement at parity says nothing about the export: relaxed to 90 % here (the
    # logit tolerance stays the target's). The bundle's manifest records the parity it passed.
    target = load_target("x86-avx512-vnni")
    parity = {k: dataclasses.replace(v, min_label_agreement=0.90) for k, v in target.parity.items()}
    return export_bundle(dataclasses.replace(target, parity=parity), model_dir, out, dataset=ds, max_length=128)


def slower(run):
    """The runner, then a sleep of PLANTED x the call's own time (outside onnxruntime, inside the timed call)."""

    def call(x):
        t0 = time.perf_counter()
        out = run(x)
        time.sleep(PLANTED * (time.perf_counter() - t0))
        return out

    return call


def one_pair(bundle: Path, planted: bool, args) -> dict:
    from edgebert.bench.interleave import bench_interleaved, output_names
    from edgebert.report import compare_runs, load_results

    with tempfile.TemporaryDirectory() as tmp:
        docs = bench_interleaved(
            [bundle, bundle],
            batch_sizes=[1],
            seq_lens=[32],
            real=True,
            warmup=10,
            iterations=args.iterations,
            out_dir=tmp,
            quiet_wait_s=args.quiet_wait,
            wrap=(lambda i, r: slower(r) if i == 1 else r) if planted else None,
        )
        a, b = (load_results(Path(tmp) / n) for n in output_names([bundle, bundle]))
        cmp = compare_runs(a, b, args.threshold, max_accuracy_drop=100.0, allow_busy=True)
    gate = docs[0]["interleaved"]["gate"]
    return {
        "planted": planted,
        "others_cpu_share": gate["others_mean_kept"],
        "busy_rounds_kept": gate["busy_rounds_kept"],
        "rounds_redone": gate["discarded_rounds"],
        "paired": cmp.paired,
        "checks": [
            {
                "workload": c.figure.removeprefix("p50 latency (").removesuffix(")"),
                "verdict": c.verdict,
                "ratio": round(c.ci.ratio, 4),
                "low": round(c.ci.low, 4),
                "high": round(c.ci.high, 4),
                "baseline_p50_ms": round(c.baseline, 3),
            }
            for c in cmp.checks
            if c.kind == "latency"
        ],
    }


def markdown(doc: dict) -> str:
    s = doc["settings"]
    lines = [
        "# compare: noise against a planted 10 % slowdown",
        "",
        f"Regenerate with `{doc['command']}`. Bundle: {doc['bundle']}. Each pair: one `bench --interleave` of the "
        f"bundle against itself ({s['iterations']} rounds per workload), then `compare` with a "
        f"{s['threshold_percent']:g} % band. Planted: the candidate sleeps 10 % of each call's own time after the "
        "call (a hook in the timing loop, not a slower model).",
        "",
        "| pairs | workload | right answer | got it | verdicts |",
        "|---|---|---|---:|---|",
    ]
    for kind, want in (("same", "no change"), ("planted", "regressed")):
        for w in doc["workloads"]:
            verdicts = [
                c["verdict"]
                for p in doc["pairs"]
                if p["planted"] == (kind == "planted")
                for c in p["checks"]
                if c["workload"] == w
            ]
            counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
            lines.append(
                f"| {kind} | {w} | {want} | {verdicts.count(want)} of {len(verdicts)} | "
                + ", ".join(f"{v}: {n}" for v, n in counts.items())
                + " |"
            )
    lines += [
        "",
        "| pair | kind | others' CPU share | workload | ratio | 95% interval | verdict |",
        "|---:|---|---:|---|---:|---|---|",
    ]
    for i, p in enumerate(doc["pairs"]):
        for c in p["checks"]:
            lines.append(
                f"| {i} | {'planted' if p['planted'] else 'same'} | {p['others_cpu_share']:.0%} | {c['workload']} | "
                f"{c['ratio']:.3f} | {c['low']:.3f}–{c['high']:.3f} | {c['verdict']} |"
            )
    lines += ["", f"Machine: {doc['machine']}. Started {doc['started']}, took {doc['seconds'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def main() -> None:
    import sys

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--pairs", type=int, default=10, help="pairs of each kind")
    ap.add_argument("--iterations", type=int, default=600, help="interleaved rounds per workload")
    ap.add_argument("--threshold", default="5%", help="compare's band, with %%")
    ap.add_argument("--quiet-wait", type=float, default=3.0, help="seconds per pair to wait for a quiet machine")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "compare-noise")
    args = ap.parse_args()
    if not args.threshold.strip().endswith("%"):
        ap.error("--threshold takes a percent with %, such as 5%")
    args.threshold = float(args.threshold.strip().removesuffix("%"))
    from edgebert import cpu

    args.work.mkdir(parents=True, exist_ok=True)
    bundle = args.bundle or build_bundle(args.work)
    started, t0 = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), time.time()
    pairs = []
    for k in range(args.pairs):  # same and planted alternate, so drift over the run hits both kinds alike
        for planted in (False, True):
            pairs.append(one_pair(bundle, planted, args))
            c = pairs[-1]["checks"]
            print(
                f"pair {k} {'planted' if planted else 'same   '}: "
                + "; ".join(
                    f"{x['workload']} {x['ratio']:.3f} [{x['low']:.3f}, {x['high']:.3f}] {x['verdict']}" for x in c
                )
                + f"  (others {pairs[-1]['others_cpu_share']:.0%})",
                flush=True,
            )
    doc = {
        "command": "python " + " ".join(sys.argv),
        "bundle": str(bundle)
        if args.bundle
        else "all-MiniLM-L6-v2 (packaged weights, untrained 2-label head), int8 x86-avx512-vnni export",
        "machine": f"{cpu.cpu_model()}, {cpu.usable_cores()} usable cores",
        "started": started,
        "seconds": round(time.time() - t0),
        "settings": {
            "iterations": args.iterations,
            "threshold_percent": args.threshold,
            "quiet_wait_s": args.quiet_wait,
            "planted_slowdown": PLANTED,
        },
        "workloads": list(dict.fromkeys(c["workload"] for p in pairs for c in p["checks"])),
        "pairs": pairs,
    }
    out = args.work / "reports" / "compare-noise"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))
    print(f"publish with: python -m benchmarks.publish {args.work}", file=sys.stderr)


if __name__ == "__main__":
    main()
