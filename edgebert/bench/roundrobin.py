"""Interleaved timing, the one home for it: variants take one call each in turn on the same inputs, so drift and
neighbours' load hit all alike. Rounds come in cycles of k (k variants): a cycle is the k rotations of one order in
turn (A B C, B C A, C A B), so every variant takes every position once per cycle; the order and the rotation it
starts at are drawn per cycle (seeded), so no variant always opens a cycle or always follows the same neighbour.
Measured on two sessions of one int8 bundle: with every cycle opening A B | B A, whichever variant opened the cycles
ran up to 7 % faster than the other, in 4 of 6 session pairs; with drawn starts the ratio stayed within 1.2 % of 1 in
all 12 runs. edgebert.bench.bootstrap pairs the samples by cycle.

Used by `edgebert bench A B --interleave` (edgebert.bench.interleave), `edgebert run`'s final comparison, and the
scripts under benchmarks/ (compress_ab.py, peers/timing.py).

Each call is timed by `edgebert.bench.latency.time_calls` (one call, no warm-up: warm-up happens before the
rounds). An optional short pause before each timed call, outside the timed window, lets the previous variant's
worker threads stop spinning (with as many threads as cores, a pool still spinning would take cores from the next).

On a shared machine round-robin is not enough: contention does not slow every runtime alike (two-thread PyTorch,
whose threads meet at a barrier in every operator, collapses when one core is taken; onnxruntime degrades gently).
So rounds are timed in blocks of about a second, the other processes' CPU use is measured over each block
(`CpuLoad`), and a block run while others were busy is thrown away and redone once they have quietened — as long as
the `QuietGate`'s waiting budget lasts. When it runs out, busy blocks are kept and counted, and the gate says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from edgebert.bench.environment import BUSY_LOAD, CpuLoad
from edgebert.bench.latency import time_calls

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]
Progress = Callable[[int], None]
CYCLE_SEED = 0
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
    others_kept: list[float] = field(default_factory=list)  # others' CPU share over each kept block
    gave_up: bool = False

    def wait(self) -> bool:
        """Sleep until others quieten (polling each half second); False when the budget is spent first."""
        while self.waited_s < self.budget_s:
            start, probe = time.monotonic(), CpuLoad()
            time.sleep(0.5)
            quiet = probe.stop()["others"] <= self.threshold
            self.waited_s += time.monotonic() - start
            if quiet:
                return True
        self.gave_up = self.gave_up or self.budget_s > 0
        return False

    @property
    def others_mean(self) -> float:
        """Others' mean CPU share over the blocks that were kept: the foreign load the figures carry."""
        return round(float(np.mean(self.others_kept)), 4) if self.others_kept else 0.0

    def message(self) -> str | None:
        """A line for the user when the figures carry foreign load, else None."""
        if not self.busy_rounds_kept:
            return None
        why = f"the {self.budget_s:.0f} s waiting budget ran out" if self.gave_up else "no waiting budget was given"
        return (
            f"{self.busy_rounds_kept} of {self.rounds} rounds were timed while other processes used more than "
            f"{self.threshold:.0%} of the CPUs ({why}): latency is inflated and noisy"
        )

    def to_dict(self) -> dict:
        return {
            "budget_s": self.budget_s,
            "threshold_others": self.threshold,
            "waited_s": round(self.waited_s, 1),
            "discarded_rounds": self.discarded_rounds,
            "busy_rounds_kept": self.busy_rounds_kept,
            "rounds": self.rounds,
            "others_mean_kept": self.others_mean,
            "gave_up": self.gave_up,
        }


def _one_round(
    runners: Mapping[str, Runner],
    names: list[str],
    inputs: Mapping[str, dict[str, np.ndarray]],
    gap_s: float,
    keep_outputs: bool,
) -> dict[str, tuple[int, np.ndarray | None]]:
    out = {}
    for name in names:  # in this round's order
        fn, x = runners[name], inputs[name]
        box: list[np.ndarray] = []
        call = (lambda: box.append(fn(x))) if keep_outputs else (lambda: fn(x))
        if gap_s:
            time.sleep(gap_s)
        out[name] = (int(time_calls(call, warmup=0, iterations=1)[0]), box[0] if box else None)
    return out


def round_robin(
    runners: Mapping[str, Runner],
    inputs: Mapping[str, Sequence[dict[str, np.ndarray]]],
    iterations: int,
    warmup: int,
    gap_s: float = 0.0,
    keep_outputs: bool = False,
    progress: Progress | None = None,
    gate: QuietGate | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-call nanoseconds per variant (round j at index j, so samples are paired by round), and with
    keep_outputs every timed call's output stacked per variant.

    Round j feeds variant n `inputs[n][j % len(inputs[n])]`: give every variant the same sequence of inputs (each
    in its own input names) and round j times them all on the same texts.
    """
    names = list(runners)
    gate = gate if gate is not None else QuietGate()
    for name in names:
        for i in range(warmup):
            runners[name](inputs[name][i % len(inputs[name])])
    samples: dict[str, list[int]] = {n: [] for n in names}
    outputs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    k = len(names)
    # Each cycle of k rounds is the k rotations of one order, so every variant takes every position once per cycle.
    # The order and the rotation it starts at are drawn per cycle (seeded): with one fixed order a variant would always
    # run right after the same neighbour (and pay, or not, for that neighbour's still-spinning threads: measured, a
    # variant that always followed a one-thread session read 12 % faster than itself), and with one fixed start the
    # variant opening every cycle ran up to 7 % faster than its copy.
    rng = np.random.default_rng(CYCLE_SEED)
    cycles = [(list(rng.permutation(k)), int(rng.integers(k))) for _ in range(iterations // k + 1)]

    def order(j: int) -> list[str]:
        perm, start = cycles[j // k]
        shift = (j + start) % k
        return [names[v] for v in perm[shift:] + perm[:shift]]

    i = 0
    while i < iterations:
        load, block, started = CpuLoad(), [], time.perf_counter()
        while i + len(block) < iterations and (not block or time.perf_counter() - started < BLOCK_S):
            j = i + len(block)
            x = {n: inputs[n][j % len(inputs[n])] for n in names}
            block.append(_one_round(runners, order(j), x, gap_s, keep_outputs))
        others = load.stop()["others"]
        busy = others > gate.threshold
        if busy and gate.wait():
            gate.discarded_rounds += len(block)
            continue  # redo the same rounds, same inputs, same order
        gate.busy_rounds_kept += len(block) if busy else 0
        gate.rounds += len(block)
        gate.others_kept.append(others)
        for rnd in block:
            for name, (ns, out) in rnd.items():
                samples[name].append(ns)
                if keep_outputs:
                    outputs[name].append(out)
        i += len(block)
        if progress:
            progress(len(block) * len(names))
    return (
        {n: np.asarray(v, dtype=np.int64) for n, v in samples.items()},
        {n: np.concatenate(v) for n, v in outputs.items() if v},
    )
