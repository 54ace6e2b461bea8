"""What the sections of the peers benchmark share: edgebert's bundles for a task, the check that a bundle's tokenizer
gives every variant's ids, the round-robin timing of one task's variants, and each embedding/NER variant's row (size,
latency, ratios) in peers.json.

Each task is timed on its own (its variants against each other, round-robin, as the classification variants are):
their models differ from the classifier's, so ratios across tasks would mean nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebert.bench.environment import CpuLoad
from edgebert.errors import UserError

from benchmarks.peers import build, timing
from benchmarks.peers.build import Log, Variant
from benchmarks.peers.workload import WorkloadCalls


def edgebert_bundles(model_dir: Path, work: Path, task: str, evals, log: Log) -> list[Variant]:
    """`edgebert export --target x86 --task TASK` at fp32 and at int8 (the target's default), on `evals`."""
    from edgebert.export.exporter import export_bundle
    from edgebert.targets import load_target

    target = load_target("x86")
    out = []
    for precision in ("fp32", "int8"):
        log(f"edgebert export --target x86 --task {task} --precision {precision}")
        start = time.perf_counter()
        path = export_bundle(
            target, model_dir, work / f"edgebert-{task}-{precision}", precision=precision, task=task, evals=evals
        )
        out.append(
            build.edgebert_variant(
                path,
                f"edgebert-x86-{precision}",
                f"edgebert {target.name} {precision}",
                time.perf_counter() - start,
                [f"edgebert export --target x86 --task {task} --precision {precision} (parity checked by export)"],
            )
        )
    return out


def time_task(
    runners: dict[str, Callable],
    plan: list[tuple[WorkloadCalls, int, bool]],
    warmup: int,
    gap_s: float,
    gate: timing.QuietGate,
    log: Log,
) -> tuple[dict[str, dict], dict[str, np.ndarray], dict[str, float]]:
    """Round-robin every workload of `plan` ((workload, rounds, keep outputs)); per workload the statistics per
    variant, the kept outputs, and the other processes' CPU share while timing."""
    latency, outputs = {}, {}
    load = CpuLoad()
    for w, n, keep in plan:
        log(f"timing {w.name}: {n} rounds of {len(runners)} variants")
        stats, outs = timing.round_robin(runners, w, n, warmup, gap_s, keep_outputs=keep, gate=gate)
        latency[w.name] = stats
        outputs.update(outs)
    return latency, outputs, load.stop()


def peer_best(variants: list[Variant], latency: dict[str, dict], source: str) -> dict[str, str]:
    """Per workload, the fastest variant that is neither edgebert's nor the source (what the ratios compare with)."""
    peers = [v.name for v in variants if v.family != "edgebert" and v.name != source]
    return {w: min(peers, key=lambda n: latency[w][n]["p50_ms"]) for w in latency} if peers else {}


def records(
    variants: list[Variant], latency: dict[str, dict], quality: dict[str, dict], source: str
) -> list[dict[str, Any]]:
    """One row per variant: what it is, its size, latency per workload (with raw samples: report.split_samples moves
    them to peers-samples.json), the ratio of p50s to the source model's and to the fastest peer's (any variant that
    is neither edgebert's nor the source), and its quality."""
    best = peer_best(variants, latency, source)
    rows = []
    for v in variants:
        row: dict[str, Any] = {
            "name": v.name,
            "label": v.label,
            "family": v.family,
            "precision": v.precision,
            "runtime": v.runtime,
            "notes": v.notes,
            "size_bytes": v.size_bytes,
            "size_of": v.size_what,
            "build_s": round(v.build_s, 1),
            "runner": v.spec.to_dict(),
            "quality": quality[v.name],
            "latency": {},
            "speedup_vs_source": {},
            "speedup_vs_peer_best": {},
        }
        for w, stats in latency.items():
            row["latency"][w] = {**stats[v.name], "samples_ms": [round(x, 4) for x in stats[v.name]["samples_ms"]]}
            row["speedup_vs_source"][w] = stats[source]["p50_ms"] / stats[v.name]["p50_ms"]
            if w in best:
                row["speedup_vs_peer_best"][w] = stats[best[w]]["p50_ms"] / stats[v.name]["p50_ms"]
        rows.append(row)
    return rows


def check_tokenizers(variants, model_dir: Path) -> None:
    """edgebert bundles carry their own tokenizer.json: it must give the very ids every other variant gets."""
    from edgebert.bundle import read_manifest
    from edgebert.runtime import Encoder

    from benchmarks.peers.workload import load_tokenizer

    ours = load_tokenizer(model_dir, 128)
    texts = ["a sample sentence, with punctuation!", "Another one: naïve café déjà vu."]
    for v in variants:
        if v.spec.kind != "edgebert":
            continue
        enc = Encoder(Path(v.spec.path), read_manifest(v.spec.path))
        for t in texts:
            if enc([t])["input_ids"][0].tolist() != ours.encode(t).ids:
                raise UserError(
                    f"{v.name}'s tokenizer differs from {model_dir}'s; its inputs would not be the same as the others'"
                )
