"""`bench_interleaved`: several bundles timed in one process, round-robin on identical inputs, behind the quiet gate.

Why: absolute latencies on a shared machine drift by tens of percent within minutes, so only ratios measured side by
side mean anything. Each workload (mode, batch size, sequence length) is timed as rounds: in round j every bundle
runs the same texts (its own tokenizer's ids of them), in rotated order (edgebert.bench.roundrobin). The output is one
ordinary results document per bundle (so `report` and `compare` read them as they are) with an `interleaved`
section: the set's id, the gate's record, and each workload's ratio to the first bundle with its paired bootstrap
interval (edgebert.bench.bootstrap). Round j sits at index j of every bundle's samples, so `compare` on two
documents of one set pairs them again.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebert.bench import bootstrap, environment, latency, memory
from edgebert.bench.roundrobin import QuietGate, round_robin
from edgebert.bench.inputs import real_batches, synthetic_inputs
from edgebert.bench.plan import DEFAULT_BATCH_SIZES, Plan, plan
from edgebert.bench.results_document import results_document, write_results
from edgebert.bench.runner import (
    SHUFFLE_SEED,
    Log,
    Progress,
    Loaded,
    load,
    machine_peak_for,
    real_row_stats,
    score_bundle,
    synthetic_row_stats,
)
from edgebert.bundle import check_output_file
from edgebert.errors import UserError

DEFAULT_QUIET_WAIT_S = 60.0  # how long, in all, the gate may wait for other processes to quieten


def _inputs(p: Plan, loaded: Loaded, mode: str, bs: int, n: int | None) -> list[dict[str, np.ndarray]]:
    texts = list(p.evaluation.texts.texts)
    if mode == "synthetic":
        return [synthetic_inputs(loaded.encoder, texts, bs, n)]
    batches = real_batches(loaded.encoder, texts, bs, p.sort_by_length)
    visit = np.random.default_rng(SHUFFLE_SEED).permutation(len(batches))  # an unbiased sample when shorter than a pass
    return [batches[v] for v in visit]


def output_names(bundles: Sequence[str | Path]) -> list[str]:
    """One file name per bundle: its directory name, numbered when two bundles share one (A A' or a/x b/x)."""
    stems = [Path(b).absolute().name or "bundle" for b in bundles]
    return [f"{i}-{s}.json" if stems.count(s) > 1 else f"{s}.json" for i, s in enumerate(stems)]


def bench_interleaved(
    bundles: Sequence[str | Path],
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seq_lens: Sequence[int] | None = None,
    real: bool = False,
    sort_by_length: bool = True,
    warmup: int = 10,
    iterations: int | None = None,
    threads: int | None = None,
    dataset: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    out_dir: str | Path | None = None,
    out_files: Sequence[str | Path] | None = None,
    quiet_wait_s: float = DEFAULT_QUIET_WAIT_S,
    progress: Progress | None = None,
    log: Log | None = None,
    wrap=None,
    trust_torchscript: bool = False,
    score: bool = True,
) -> list[dict[str, Any]]:
    """Time `bundles` interleaved; return (and with `out_dir`, write) one results document per bundle, in order.

    `out_files` instead of `out_dir`: one path per bundle. `iterations` rounds per workload (default 100; one pass
    over the split for real lengths). `quiet_wait_s`: how
    long in all to wait for other processes to quieten before redoing a busy block of rounds. `wrap(i, runner)`,
    for experiments only (benchmarks/compare_noise.py plants a slowdown with it), replaces bundle i's runner.
    `score` False: timing only, each document's "accuracy" is None (edgebert run's runoff, whose trials' metric on
    the same texts is known).
    """
    log = log or (lambda message: None)
    if len(bundles) < 2:
        raise UserError("--interleave needs at least two bundles to time side by side")
    if not quiet_wait_s >= 0:
        raise UserError(f"the quiet-machine wait must be a number of seconds >= 0, got {quiet_wait_s!r}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise UserError(f"--out-dir {out} is a file; pass a directory (missing ones are created)")
    if out_files is not None and (len(out_files) != len(bundles) or out is not None):
        raise UserError("give one output file per bundle, and not together with an output directory")
    before = environment.CpuLoad()
    plans = [
        plan(
            b,
            batch_sizes,
            seq_lens,
            real,
            sort_by_length,
            warmup,
            iterations,
            None,
            threads,
            dataset,
            text_column,
            label_column,
            None,
            trust_torchscript,
        )
        for b in bundles
    ]
    files = [Path(f).name for f in out_files] if out_files is not None else output_names(bundles)
    targets = (
        [Path(f) for f in out_files] if out_files is not None else [out / f for f in files] if out is not None else []
    )
    for path in targets:  # before any timing: never into a bundle, never over the dataset
        check_output_file(path.absolute(), inputs=[dataset], inside=[p.bundle_dir for p in plans])
    configs = plans[0].configs
    for p in plans[1:]:
        if [(m, bs, n) for m, bs, n in p.configs] != configs:
            raise UserError(
                f"{p.bundle_dir} allows other workloads than {plans[0].bundle_dir} (different max lengths); "
                "pass --seq-lens that both allow"
            )
    names = [f"{i}" for i in range(len(plans))]
    gate = QuietGate(budget_s=quiet_wait_s)
    with memory.RssSampler() as sampler:
        loaded = [load(p, log) for p in plans]
        peaks = [machine_peak_for(ld.runner, p.manifest, log) for p, ld in zip(plans, loaded)]
        runners = {n: (wrap(i, ld.runner) if wrap else ld.runner) for i, (n, ld) in enumerate(zip(names, loaded))}
        load_before = before.stop()
        overhead_ns = latency.harness_overhead_ns()
        rows: list[list[dict[str, Any]]] = [[] for _ in plans]
        ratios: list[dict[str, Any]] = []
        during = environment.CpuLoad()
        for mode, bs, n in configs:
            inputs = {name: _inputs(p, ld, mode, bs, n) for name, p, ld in zip(names, plans, loaded)}
            calls = iterations or (latency.DEFAULT_ITERATIONS if mode == "synthetic" else len(inputs["0"]))
            what = f"{mode} batch {bs}" + (f" × {n} tokens" if n else "") + f", {len(plans)} bundles interleaved"
            advance = progress(what, calls * len(plans)) if progress else None
            samples, _ = round_robin(runners, inputs, calls, warmup, progress=advance, gate=gate)
            for i, (name, ld) in enumerate(zip(names, loaded)):
                if mode == "synthetic":
                    stats = synthetic_row_stats(samples[name], bs, n, ld.graph)
                else:
                    stats = real_row_stats(inputs[name], np.arange(calls) % len(inputs[name]), samples[name], ld.graph)
                rows[i].append({"mode": mode, "batch_size": bs, "seq_len": n, **stats})
            for i in range(1, len(plans)):
                ci = bootstrap.ratio_ci(samples["0"], samples[names[i]], paired=True, cycle=len(names))
                ratios.append({"mode": mode, "batch_size": bs, "seq_len": n, "bundle": i, **ci.to_dict()})
        load_during = during.stop()
        load_during["others"] = gate.others_mean  # the foreign load of the rounds kept, not of the ones redone
        scores = []
        for p, ld in zip(plans, loaded):
            if score:
                log(f"scoring {len(p.evaluation.texts)} texts of {p.evaluation.name} with {p.bundle_dir}")
            scores.append(score_bundle(p, ld.runner, ld.encoder) if score else None)
    group = uuid.uuid4().hex
    warning = gate.message()
    members = [{"position": i, "path": str(p.bundle_dir.absolute())} for i, p in enumerate(plans)]
    docs = []
    for i, (p, ld) in enumerate(zip(plans, loaded)):
        doc = results_document(
            p,
            ld,
            rows[i],
            load_before,
            load_during,
            overhead_ns,
            sampler,
            scores[i],
            peaks[i],
            [warning] if warning else [],
        )
        doc["memory"]["note"] = (
            f"{len(plans)} bundles loaded in one process: peak RSS is the process's, model_load_bytes each bundle's"
        )
        docs.append(doc)
    for i, doc in enumerate(docs):
        members[i].update(label=doc["bundle"]["label"], sha256=doc["bundle"]["sha256"], results_file=files[i])
    for i, doc in enumerate(docs):
        doc["interleaved"] = {
            "group": group,
            "position": i,
            "bundles": members,
            "gate": gate.to_dict(),
            "ratios_to_first": [r for r in ratios if i == 0 or r["bundle"] == i],
            "method": "round-robin, one call per bundle per round, order rotated each round; ratio = median over "
            "rotation cycles of sum(bundle) / sum(first); 95% paired bootstrap over cycles",
        }
    for doc, path in zip(docs, targets):
        write_results(doc, path)
    return docs
