"""Round-robin timing: every variant takes one call in turn (A B C, B C A, C A B, …), so drift and neighbours'
load hit all alike, and no variant always runs right after the same one.

Each call is timed by `edgebert.bench.latency.time_calls` (one call, no warm-up: warm-up happens before the
rounds) and summarised by `summarize`, the same code `edgebert bench` uses. A short pause before each timed call,
outside the timed window, lets the previous variant's worker threads (PyTorch's OpenMP pool, onnxruntime's
pool) stop spinning: a precaution, because with as many threads as cores a pool still spinning after its call
would take cores from the next variant.

On a shared machine round-robin is not enough: contention does not slow every runtime alike (two-thread
PyTorch, whose threads meet at a barrier in every operator, collapses when one of its cores is taken, while
onnxruntime degrades gently). So rounds are timed in blocks of about a second, the other processes' CPU use
is measured over each block (`edgebert.bench.environment.CpuLoad`), and a block run while others were busy is
thrown away and redone once they have quietened — as long as the `QuietGate`'s waiting budget lasts. What was
discarded, waited and kept busy is reported.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgebert.bench.environment import BUSY_LOAD, CpuLoad
from edgebert.bench.latency import summarize, time_calls

from benchmarks.peers.workload import Workload

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]
Progress = Callable[[int], None]
BLOCK_S = 1.0  # a block of rounds lasts about this long: long enough for /proc/stat's 10 ms ticks to mean something


@dataclass
class QuietGate:
    """Redo blocks timed while others used more than `threshold` of the CPUs, waiting up to `budget_s` in all."""

    budget_s: float = 0.0
    threshold: float = BUSY_LOAD
    waited_s: float = 0.0
    discarded_rounds: int = 0
    busy_rounds_kept: int = 0
    rounds: int = 0

    def wait(self) -> bool:
        """Sleep until others quieten (polling each half second); False when the budget is spent first."""
        while self.waited_s < self.budget_s:
            start, probe = time.monotonic(), CpuLoad()
            time.sleep(0.5)
            quiet = probe.stop()["others"] <= self.threshold
            self.waited_s += time.monotonic() - start
            if quiet:
                return True
        return False

    def to_dict(self) -> dict:
        return {"budget_s": self.budget_s, "threshold_others": self.threshold, "waited_s": round(self.waited_s, 1),
                "discarded_rounds": self.discarded_rounds, "busy_rounds_kept": self.busy_rounds_kept, "rounds": self.rounds}


def _one_round(runners: dict[str, Runner], names: list[str], x: dict[str, np.ndarray], shift: int, gap_s: float,
               keep_outputs: bool) -> dict[str, tuple[int, np.ndarray | None]]:
    out = {}
    for name in names[shift:] + names[:shift]:
        fn = runners[name]
        box: list[np.ndarray] = []
        call = (lambda: box.append(fn(x))) if keep_outputs else (lambda: fn(x))
        if gap_s:
            time.sleep(gap_s)
        out[name] = (int(time_calls(call, warmup=0, iterations=1)[0]), box[0] if box else None)
    return out


def round_robin(runners: dict[str, Runner], workload: Workload, iterations: int, warmup: int, gap_s: float,
                keep_outputs: bool = False, progress: Progress | None = None,
                gate: QuietGate | None = None) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Latency statistics per variant, and (with keep_outputs) every timed call's logits stacked per variant."""
    names = list(runners)
    gate = gate or QuietGate()
    for name in names:
        for i in range(warmup):
            runners[name](workload.calls[i % len(workload.calls)])
    samples: dict[str, list[int]] = {n: [] for n in names}
    outputs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    i = 0
    while i < iterations:
        load, block, started = CpuLoad(), [], time.perf_counter()
        while i + len(block) < iterations and (not block or time.perf_counter() - started < BLOCK_S):
            j = i + len(block)
            block.append(_one_round(runners, names, workload.calls[j % len(workload.calls)], j % len(names), gap_s, keep_outputs))
        busy = load.stop()["others"] > gate.threshold
        if busy and gate.wait():
            gate.discarded_rounds += len(block)
            continue  # redo the same rounds, same inputs, same order
        gate.busy_rounds_kept += len(block) if busy else 0
        gate.rounds += len(block)
        for rnd in block:
            for name, (ns, logits) in rnd.items():
                samples[name].append(ns)
                if keep_outputs:
                    outputs[name].append(logits)
        i += len(block)
        if progress:
            progress(len(block) * len(names))
    tokens = workload.mean_tokens(iterations)  # per call, all rows of the batch
    stats = {n: summarize(samples[n], workload.batch_size, tokens) for n in names}
    for s in stats.values():
        s["mean_tokens_per_sequence"] = tokens / workload.batch_size
    return stats, {n: np.concatenate(v) for n, v in outputs.items() if v}
