"""Per-call wall time and its statistics. numpy + stdlib only: the same code times bundles and peers.

Why a monotonic nanosecond clock read around each single call: percentiles need every call's own time, and
`time.perf_counter_ns` is monotonic, integer (no float rounding) and the finest clock Python has. What the
harness itself costs per call (the clock reads, the loop, the Python call) is measured by timing an empty
callable through the very same loop, so it can be reported next to the figures it inflates.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from edgebert.errors import UserError

DEFAULT_ITERATIONS = 100


def check_counts(warmup: int, iterations: int | None, min_time_s: float | None) -> None:
    """One-line errors for counts a run cannot use (shared by the library call and the CLI)."""
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise UserError(f"warmup must be an integer >= 0, got {warmup!r}")
    if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1):
        raise UserError(f"iterations must be an integer >= 1, got {iterations!r}")
    if min_time_s is not None and (
        isinstance(min_time_s, bool) or not isinstance(min_time_s, (int, float)) or not min_time_s > 0
    ):
        raise UserError(f"min_time must be a number of seconds > 0, got {min_time_s!r}")


def time_calls(
    fn: Callable[[], Any],
    warmup: int,
    iterations: int | None = None,
    min_time_s: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Call `fn` `warmup` times untimed, then time each call; return int64 nanoseconds, one per timed call.

    `iterations` fixes the number of timed calls; `min_time_s` keeps calling until that much time was spent in
    timed calls; with both, both must be met; with neither, DEFAULT_ITERATIONS calls. `progress(1)` is called
    after each call, outside the timed window.
    """
    check_counts(warmup, iterations, min_time_s)
    if iterations is None and min_time_s is None:
        iterations = DEFAULT_ITERATIONS
    clock = time.perf_counter_ns
    for _ in range(warmup):
        fn()
        if progress:
            progress(1)
    if min_time_s is None:
        # Fixed count: a preallocated array keeps list growth out of the loop.
        out = np.empty(iterations, dtype=np.int64)
        for i in range(iterations):
            t0 = clock()
            fn()
            out[i] = clock() - t0
            if progress:
                progress(1)
        return out
    budget, spent, samples = int(min_time_s * 1e9), 0, []
    while spent < budget or len(samples) < (iterations or 1):
        t0 = clock()
        fn()
        dt = clock() - t0
        samples.append(dt)
        spent += dt
        if progress:
            progress(1)
    return np.asarray(samples, dtype=np.int64)


def _noop() -> None:
    return None


def harness_overhead_ns(iterations: int = 10_000, warmup: int = 100) -> float:
    """Median ns the timing loop adds to one call: an empty callable timed through `time_calls`."""
    return float(np.median(time_calls(_noop, warmup=warmup, iterations=iterations)))


def summarize(samples_ns: np.ndarray | list[int], batch_size: int, tokens_per_call: float) -> dict[str, Any]:
    """Statistics of one timed configuration, in milliseconds (the results document's latency fields).

    Percentiles interpolate linearly between order statistics (numpy's default, as in most benchmark tools);
    std is the sample standard deviation (ddof=1; 0 for a single call); cv = std / mean. Throughput is what a
    sustained caller gets: sequences (tokens) per call divided by the mean call time.
    """
    ns = np.asarray(samples_ns, dtype=np.float64)
    if ns.ndim != 1 or ns.size == 0:
        raise UserError("no timed calls to summarize; run at least one iteration")
    ms = ns / 1e6
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
    mean_s = mean / 1e3
    return {
        "iterations": int(ms.size),
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "mean_ms": mean,
        "std_ms": std,
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
        "cv": std / mean if mean > 0 else 0.0,
        "throughput_seq_s": batch_size / mean_s if mean_s > 0 else 0.0,
        "throughput_tok_s": float(tokens_per_call) / mean_s if mean_s > 0 else 0.0,
        "samples_ms": [float(v) for v in ms],
    }


def overhead_fraction(overhead_ns: float, fastest_ms: float) -> float:
    """The harness's per-call cost as a fraction of the fastest configuration's median call."""
    return overhead_ns / (fastest_ms * 1e6) if fastest_ms > 0 else 0.0
