"""Round-robin timing: every variant takes one call in turn (A B C, B C A, C A B, …), so drift and neighbours'
load hit all alike, and no variant always runs right after the same one.

Each call is timed by `edgebert.bench.latency.time_calls` (one call, no warm-up: warm-up happens before the
rounds) and summarised by `summarize`, the same code `edgebert bench` uses. A short pause before each timed call,
outside the timed window, lets the previous variant's worker threads (PyTorch's OpenMP pool, onnxruntime's
pool) stop spinning: a precaution, because with as many threads as cores a pool still spinning after its call
would take cores from the next variant.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from edgebert.bench.latency import summarize, time_calls

from benchmarks.peers.workload import Workload

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]
Progress = Callable[[int], None]


def round_robin(runners: dict[str, Runner], workload: Workload, iterations: int, warmup: int, gap_s: float,
                keep_outputs: bool = False, progress: Progress | None = None) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Latency statistics per variant, and (with keep_outputs) every timed call's logits stacked per variant."""
    names = list(runners)
    for name in names:
        for i in range(warmup):
            runners[name](workload.calls[i % len(workload.calls)])
    samples: dict[str, list[int]] = {n: [] for n in names}
    outputs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for i in range(iterations):
        x = workload.calls[i % len(workload.calls)]
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            fn = runners[name]
            box: list[np.ndarray] = []
            call = (lambda: box.append(fn(x))) if keep_outputs else (lambda: fn(x))
            if gap_s:
                time.sleep(gap_s)
            samples[name].append(int(time_calls(call, warmup=0, iterations=1)[0]))
            if keep_outputs:
                outputs[name].append(box[0])
            if progress:
                progress(1)
    tokens = workload.mean_tokens(iterations)  # per call, all rows of the batch
    stats = {n: summarize(samples[n], workload.batch_size, tokens) for n in names}
    for s in stats.values():
        s["mean_tokens_per_sequence"] = tokens / workload.batch_size
    return stats, {n: np.concatenate(v) for n, v in outputs.items() if v}
