"""Statistics, timing loop, overhead, accuracy and memory helpers of `edgebert bench`, on fixed, known inputs."""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest

from edgebert.bench import accuracy, latency, memory
from edgebert.data import LabelledTexts
from edgebert.errors import UserError

MS = 1_000_000  # ns


def test_summarize_known_timings():
    # 1..10 ms: linear-interpolation percentiles p50 = 5.5, p90 = 9.1, p99 = 9.91; sample std = sqrt(55/6).
    s = latency.summarize([i * MS for i in range(1, 11)], batch_size=4, tokens_per_call=4 * 32)
    assert s["iterations"] == 10
    assert s["p50_ms"] == pytest.approx(5.5)
    assert s["p90_ms"] == pytest.approx(9.1)
    assert s["p99_ms"] == pytest.approx(9.91)
    assert s["mean_ms"] == pytest.approx(5.5)
    assert s["std_ms"] == pytest.approx((55 / 6) ** 0.5)
    assert s["cv"] == pytest.approx((55 / 6) ** 0.5 / 5.5)
    assert (s["min_ms"], s["max_ms"]) == (1.0, 10.0)
    assert s["throughput_seq_s"] == pytest.approx(4 / 0.0055)
    assert s["throughput_tok_s"] == pytest.approx(128 / 0.0055)
    assert s["samples_ms"] == [float(i) for i in range(1, 11)]


def test_summarize_order_does_not_matter_and_outlier_moves_only_tail():
    base = [2 * MS] * 99 + [50 * MS]
    a = latency.summarize(base, 1, 10)
    b = latency.summarize(list(reversed(base)), 1, 10)
    assert a["p50_ms"] == b["p50_ms"] == 2.0
    assert a["p90_ms"] == 2.0
    assert a["p99_ms"] == pytest.approx(2.0 + 0.01 * 48)  # 0.99 * 99 = 98.01 → 1% of the way to the outlier
    assert a["max_ms"] == 50.0


def test_summarize_single_call_and_constant_calls():
    one = latency.summarize([3 * MS], 1, 8)
    assert one["std_ms"] == 0.0 and one["cv"] == 0.0 and one["p99_ms"] == 3.0
    flat = latency.summarize([7 * MS] * 20, 2, 16)
    assert flat["cv"] == 0.0 and flat["throughput_seq_s"] == pytest.approx(2 / 0.007)


def test_summarize_refuses_nothing():
    with pytest.raises(UserError):
        latency.summarize([], 1, 1)


class FakeClock:
    """perf_counter_ns stand-in: each read returns `now`; calling `work(d)` advances it by d ns."""

    def __init__(self, tick: int = 0):
        self.now, self.tick, self.reads = 0, tick, 0

    def __call__(self) -> int:
        self.reads += 1
        self.now += self.tick  # the cost of reading the clock itself
        return self.now

    def work(self, ns: int) -> None:
        self.now += ns


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(latency.time, "perf_counter_ns", c)
    return c


def test_time_calls_fixed_count_times_each_call_and_skips_warmup(clock):
    durations = itertools.count(1)
    calls, progress = [], []
    samples = latency.time_calls(
        lambda: (calls.append(1), clock.work(next(durations) * 1000)), warmup=3, iterations=5, progress=progress.append
    )
    assert len(calls) == 8 and sum(progress) == 8
    assert samples.dtype == np.int64
    assert samples.tolist() == [4000, 5000, 6000, 7000, 8000]  # calls 1-3 were warm-up


def test_time_calls_min_time_runs_until_budget(clock):
    samples = latency.time_calls(lambda: clock.work(2 * MS), warmup=0, min_time_s=0.009)
    assert samples.tolist() == [2 * MS] * 5  # 4 calls = 8 ms < 9 ms, the 5th crosses the budget


def test_time_calls_with_both_meets_both(clock):
    assert len(latency.time_calls(lambda: clock.work(MS), warmup=0, iterations=7, min_time_s=0.002)) == 7
    assert len(latency.time_calls(lambda: clock.work(MS), warmup=0, iterations=2, min_time_s=0.004)) == 4


def test_time_calls_default_count(clock):
    assert len(latency.time_calls(lambda: None, warmup=0)) == latency.DEFAULT_ITERATIONS


def test_harness_overhead_is_the_clock_and_call_cost(monkeypatch):
    # Every clock read costs 40 ns and the empty callable costs nothing: one timed call reads 40 ns.
    monkeypatch.setattr(latency.time, "perf_counter_ns", FakeClock(tick=40))
    assert latency.harness_overhead_ns(iterations=100, warmup=5) == 40.0
    assert latency.overhead_fraction(40.0, fastest_ms=0.02) == pytest.approx(0.002)
    assert latency.overhead_fraction(40.0, fastest_ms=0.0) == 0.0


def test_real_harness_overhead_is_small_and_positive():
    ns = latency.harness_overhead_ns(iterations=2000)
    assert 0 < ns < 1_000_000  # nanoseconds, not milliseconds: a unit mix-up would show here


@pytest.mark.parametrize(
    "kwargs",
    [
        {"warmup": -1, "iterations": 5},
        {"warmup": 0, "iterations": 0},
        {"warmup": 0, "iterations": -3},
        {"warmup": 0, "min_time_s": 0},
        {"warmup": 0, "min_time_s": -1.0},
        {"warmup": 0, "iterations": True},
        {"warmup": 1.5, "iterations": 5},
        {"warmup": 0, "iterations": 2.0},
    ],
)
def test_bad_counts_are_user_errors(kwargs):
    with pytest.raises(UserError):
        latency.time_calls(lambda: None, **kwargs)


def test_macro_f1_known_values():
    y_true = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 1, 1, 1, 1, 0, 0])
    # class 0: tp 2, fp 2, fn 1 → 4/7; class 1: tp 3, fp 1, fn 2 → 6/9
    assert accuracy.macro_f1(y_true, y_pred) == pytest.approx((4 / 7 + 6 / 9) / 2)
    assert accuracy.macro_f1(y_true, y_true) == 1.0
    # a label only predicted, never true, still counts (F1 0), as in scikit-learn's default
    assert accuracy.macro_f1(np.array([0, 0]), np.array([0, 2])) == pytest.approx((2 / 3 + 0) / 2)


def test_score_accuracy_and_agreement():
    texts = LabelledTexts(("a", "b", "c", "d"), ("neg", "pos", "pos", "neg"), "t")
    ev = accuracy.Evaluation(texts, np.array([0, 1, 1, 0]), "t:test", np.array([0, 1, 0, 0]), 0.75)
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 3.0]])  # predicts 0, 1, 1, 1
    s = accuracy.score(ev, logits)
    assert s["accuracy"] == 0.75 and s["agreement_with_reference"] == 0.5 and s["size"] == 4
    assert s["reference_accuracy"] == 0.75 and s["dataset"] == "t:test" and len(s["dataset_sha256"]) == 64
    assert (
        accuracy.score(accuracy.Evaluation(texts, ev.label_ids, "t", None), logits)["agreement_with_reference"] is None
    )


def test_gzip_bytes_shows_sparsity(tmp_path):
    rng = np.random.default_rng(0)
    dense, sparse = rng.standard_normal(100_000).astype(np.float32), np.zeros(100_000, np.float32)
    sparse[::10] = dense[::10]
    (tmp_path / "d").write_bytes(dense.tobytes())
    (tmp_path / "s").write_bytes(sparse.tobytes())
    d, s = memory.gzip_bytes(tmp_path / "d"), memory.gzip_bytes(tmp_path / "s")
    assert d == len(gzip.compress(dense.tobytes(), compresslevel=6, mtime=0))
    assert s < d / 3


def test_rss_sampler_sees_an_allocation():
    with memory.RssSampler(interval_s=0.001) as sampler:
        before = memory.rss_bytes()
        block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
        sampler.sample()
        del block
    assert sampler.peak >= before + 60 * 2**20
    assert sampler.samples >= 2
    assert memory.max_rss_os_bytes() >= sampler.peak * 0.9


def test_parse_nvidia_smi():
    text = "123, 500\n456, 1024\n456, 10\n"
    assert memory.parse_nvidia_smi(text, 456) == 1034 * 2**20
    assert memory.parse_nvidia_smi(text, 789) is None
    assert memory.device_bytes(["CPUExecutionProvider"]) is None


@pytest.mark.parametrize(
    "arch,flags,env,expected",
    [
        ("x86_64", {"sse2", "avx2"}, "", False),
        ("aarch64", {"asimd", "asimddp"}, "", False),
        ("aarch64", {"sse2", "avx2"}, "", True),  # qemu-user passing the x86 host's cpuinfo through
        ("x86_64", {"asimd"}, "", True),
        ("aarch64", {"asimd"}, "1", True),  # set by the emulation scripts
        ("aarch64", {"asimd"}, "0", False),
    ],
)
def test_looks_emulated(monkeypatch, arch, flags, env, expected):
    from edgebert.bench import environment

    monkeypatch.setattr(environment.cpu, "machine", lambda: arch)
    monkeypatch.setattr(environment.cpu, "cpu_features", lambda: frozenset(flags))
    monkeypatch.setenv(environment.EMULATED_ENV, env)
    assert environment.looks_emulated() is expected


@pytest.mark.parametrize(
    "cpus, seconds, busy, idle, own, total, others",
    [
        (2, 1.0, (1.0, 0.5), 0.5, 0.5, 0.75, 0.5),  # 1.5 of 2 CPU-seconds busy, 0.5 of them ours
        (4, 2.0, (1.5, 0.5), 6.0, 2.0, 0.25, 0.0),  # all the busy time is ours: no neighbour
        (1, 1.0, (0.2, 0.1), 0.7, 0.0, 0.3, 0.3),  # idle and iowait do not count as busy
        (1, 1.0, (3.0, 1.0), 0.0, 1.5, 1.0, 0.0),  # counters that overshoot the interval clamp to the CPUs' capacity
        (2, 1.0, (-1.0, 0.0), 3.0, 0.0, 0.0, 0.0),  # a counter that went backwards (reset) reads as idle, not negative
    ],
)
def test_cpu_load_splits_busy_time_into_ours_and_others(monkeypatch, cpus, seconds, busy, idle, own, total, others):
    """CpuLoad from scripted counters: (busy - ours) / (interval x CPUs), the arithmetic the report's warning trusts."""
    import collections
    import types

    from edgebert.bench import environment

    Times = collections.namedtuple("Times", "user system idle iowait")
    host = iter([Times(10.0, 5.0, 100.0, 1.0), Times(10.0 + busy[0], 5.0 + busy[1], 100.0 + idle, 1.0 + idle / 2)])
    proc = iter([(1.0, 0.5), (1.0 + own, 0.5)])
    clock = iter([50.0, 50.0 + seconds])
    monkeypatch.setattr(
        environment,
        "psutil",
        types.SimpleNamespace(
            cpu_times=lambda: next(host),
            cpu_count=lambda: cpus,
            Process=lambda: types.SimpleNamespace(cpu_times=lambda: next(proc)),
        ),
    )
    monkeypatch.setattr(environment, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    assert environment.CpuLoad().stop() == {"total": pytest.approx(total), "others": pytest.approx(others)}
