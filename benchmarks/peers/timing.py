"""Round-robin timing of the peers' variants: a thin layer over `edgebert.bench.roundrobin`, the product's one home
for interleaved timing (the quiet gate, rotated order, blocks redone under foreign load). This module only feeds it
a peers `WorkloadCalls` and summarises each variant's samples with the bench's own `summarize`.
"""

from __future__ import annotations

import time  # noqa: F401  (tests patch timing.time.sleep: the same module object the gate sleeps through)

import numpy as np

from edgebert.bench.latency import summarize
from edgebert.bench.roundrobin import BLOCK_S, Progress, QuietGate, Runner
from edgebert.bench.roundrobin import round_robin as _round_robin

from benchmarks.peers.workload import WorkloadCalls

__all__ = ["BLOCK_S", "QuietGate", "Runner", "round_robin"]


def round_robin(
    runners: dict[str, Runner],
    workload: WorkloadCalls,
    iterations: int,
    warmup: int,
    gap_s: float,
    keep_outputs: bool = False,
    progress: Progress | None = None,
    gate: QuietGate | None = None,
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Latency statistics per variant, and (with keep_outputs) every timed call's logits stacked per variant."""
    calls = list(workload.calls)
    samples, outputs = _round_robin(
        runners, {n: calls for n in runners}, iterations, warmup, gap_s, keep_outputs, progress, gate
    )
    tokens = workload.mean_tokens(iterations)  # per call, all rows of the batch
    stats = {n: summarize(samples[n], workload.batch_size, tokens) for n in runners}
    for s in stats.values():
        s["mean_tokens_per_sequence"] = tokens / workload.batch_size
    return stats, outputs
