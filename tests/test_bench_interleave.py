"""`bench --interleave`, the bootstrap behind its ratios and compare's verdicts, graph MACs and the GEMM peak probe.

Tiny bundles from conftest; nothing here asserts a speed (the machine is shared): only shapes, pairing, correctness
of the statistics on known distributions, and the MAC count against the model's own dimensions.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.bench import bootstrap, peak, roundrobin
from edgebert.bench.bootstrap import RatioCI, ratio_ci, verdict
from edgebert.bench.interleave import bench_interleaved, output_names
from edgebert.bench.macs import count_macs
from edgebert.bundle import read_manifest
from edgebert.cli import cli
from edgebert.errors import UserError
from edgebert.report import load_results, render_report


# --- bootstrap -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("paired", [False, True])
def test_interval_covers_the_true_ratio_at_its_confidence(paired):
    """Log-normal call times (median 1 ms) against 1.1x them: the true ratio of medians is 1.1. Over 200 independent
    experiments a 95% interval must cover it about 95% of the time (binomial sd ~1.5%: 0.89-0.99 is generous). Paired,
    the figure is the median per-round ratio (1.1 here too); its percentile interval may over-cover a little (the
    median's discreteness) but must not under-cover, and it must stay narrow: the rounds' shared variation cancels."""
    rng = np.random.default_rng(42)
    covered, widths = 0, []
    for k in range(200):
        base = rng.lognormal(0.0, 0.3, 150)
        cand = 1.1 * (base * rng.lognormal(0.0, 0.05, 150) if paired else rng.lognormal(0.0, 0.3, 150))
        ci = ratio_ci(base, cand, paired=paired, resamples=400, seed=k)
        covered += ci.low <= 1.1 <= ci.high
        widths.append(ci.high - ci.low)
    assert 0.89 <= covered / 200 <= (1.0 if paired else 0.99)
    assert np.mean(widths) < (0.1 if paired else 0.2)  # pairing cancels the shared part of each round


def test_pairing_cancels_drift_that_hits_both_sides():
    drift = np.linspace(1.0, 1.6, 300)  # the machine slows down by 60 % during the run
    base = drift * np.random.default_rng(0).lognormal(0, 0.02, 300)
    cand = 1.05 * base
    paired, independent = ratio_ci(base, cand, paired=True), ratio_ci(base, cand, paired=False)
    assert paired.low == pytest.approx(1.05) and paired.high == pytest.approx(1.05)
    assert independent.high - independent.low > 0.05
    with pytest.raises(ValueError, match="equal length"):
        ratio_ci(base, cand[:-1], paired=True)


def test_paired_ratio_cancels_what_each_round_timed():
    """A bundle against itself at real lengths: each round times another text (call times spread 3x), both sides the
    same text. Paired, the per-round ratios cancel the spread and the interval fits a 5 % band; the ratio of the two
    medians (rounds mixed) cannot cancel it."""
    rng = np.random.default_rng(7)
    per_text = rng.lognormal(0.0, 0.5, 150)
    base, cand = per_text * rng.lognormal(0, 0.03, 150), per_text * rng.lognormal(0, 0.03, 150)
    paired, independent = ratio_ci(base, cand, paired=True), ratio_ci(base, cand, paired=False)
    assert verdict(paired, 5) == "no change"
    assert verdict(independent, 5) == "undecidable (too noisy)"
    assert independent.high - independent.low > 3 * (paired.high - paired.low)


def test_cycles_cancel_the_position_in_the_round():
    """Round-robin A B | B A: the second call of a round pays for the first one's spinning threads (+30 % here). Per
    round, a bundle against itself reads 1.3 and 1/1.3 in turn, so the median of per-round ratios lands anywhere
    between and the interval is wide; per cycle (one A-first and one B-first round), the position cancels."""
    rng = np.random.default_rng(3)
    n = 600
    second = np.arange(n) % 2  # round j: A first when j is even, B first when odd
    base = rng.lognormal(0, 0.05, n) * np.where(second == 1, 1.3, 1.0)  # A is second in odd rounds
    cand = rng.lognormal(0, 0.05, n) * np.where(second == 0, 1.3, 1.0)  # B is second in even rounds
    by_round, by_cycle = ratio_ci(base, cand, paired=True), ratio_ci(base, cand, paired=True, cycle=2)
    assert verdict(by_cycle, 5) == "no change" and by_cycle.high - by_cycle.low < 0.03
    assert by_round.high - by_round.low > 2 * (by_cycle.high - by_cycle.low)
    assert ratio_ci(base[:-1], cand[:-1], paired=True, cycle=2) == ratio_ci(
        base[:-2], cand[:-2], paired=True, cycle=2
    )  # the odd round out is left out
    with pytest.raises(ValueError, match="cycle"):
        ratio_ci(base, cand, paired=True, cycle=0)


def test_the_same_samples_give_the_same_interval():
    x = np.random.default_rng(1).lognormal(0, 0.2, 80)
    assert ratio_ci(x, x * 1.02) == ratio_ci(x, x * 1.02)


@pytest.mark.parametrize(
    "low, high, threshold, expected",
    [
        (1.06, 1.20, 5, "regressed"),
        (1.04, 1.20, 5, "undecidable (too noisy)"),
        (0.97, 1.04, 5, "no change"),
        (1 / 1.05, 1.05, 5, "no change"),  # the band's edges are inside it
        (0.80, 0.90, 5, "improved"),
        (0.80, 0.96, 5, "undecidable (too noisy)"),
        (0.60, 1.50, 5, "undecidable (too noisy)"),
        (1.01, 1.02, 0, "regressed"),
        (0.99, 1.01, 0, "undecidable (too noisy)"),  # a zero band can never say "no change"
        (1.20, 1.24, 25, "no change"),
        (1.20, 1.30, 25, "undecidable (too noisy)"),
    ],
)
def test_verdict_table(low, high, threshold, expected):
    assert verdict(RatioCI((low + high) / 2, low, high, 0.95, False), threshold) == expected
    assert expected in bootstrap.VERDICTS


# --- round-robin -------------------------------------------------------------------------------------------------------
def test_round_robin_gives_every_variant_the_same_input_each_round_in_rotated_order():
    """Each cycle of 3 rounds is the 3 rotations of one order in turn (every variant once in every position); the order
    and the rotation it starts at are drawn per cycle. Measured: a fixed start (a b | b a | a b ...) let whichever
    variant opened the cycles run ~5 % faster than itself in the other position, and a fixed order made a variant that
    always followed a one-thread session (no spinning pool before it) read 12 % faster than itself."""
    order: list[tuple[str, int]] = []

    def runner(name):
        return lambda x: order.append((name, int(x["input_ids"][0, 0])))

    inputs = [{"input_ids": np.full((1, 4), j)} for j in range(50)]
    samples, _ = roundrobin.round_robin(
        {n: runner(n) for n in "abc"}, {n: inputs for n in "abc"}, iterations=31, warmup=0
    )
    assert {n: len(v) for n, v in samples.items()} == {"a": 31, "b": 31, "c": 31}
    rounds = ["".join(n for n, _ in order[3 * j : 3 * j + 3]) for j in range(31)]
    assert all({x for _, x in order[3 * j : 3 * j + 3]} == {j} for j in range(31))  # round j: all on input j
    for c in range(10):
        r0, r1, r2 = rounds[3 * c : 3 * c + 3]
        assert r1 == r0[1:] + r0[0] and r2 == r1[1:] + r1[0]  # the rotations of one order, in turn
    assert len({rounds[3 * c][0] for c in range(10)}) > 1  # cycles do not all open with the same variant
    cyclic = {min(r[i:] + r[:i] for i in range(3)) for r in rounds}  # abc and acb: who follows whom
    assert cyclic == {"abc", "acb"}


def test_gate_gives_up_when_its_budget_is_spent_and_says_so(monkeypatch):
    class Busy:
        def stop(self):
            return {"total": 1.0, "others": 0.9}

    monkeypatch.setattr(roundrobin, "CpuLoad", Busy)
    monkeypatch.setattr(roundrobin.time, "sleep", lambda s: None)
    gate = roundrobin.QuietGate(budget_s=0.0)
    roundrobin.round_robin({"a": lambda x: None}, {"a": [{}]}, iterations=3, warmup=0, gate=gate)
    assert gate.busy_rounds_kept == 3 and gate.others_mean == 0.9
    assert "3 of 3 rounds were timed while other processes used more than 25%" in gate.message()
    assert gate.to_dict()["busy_rounds_kept"] == 3


# --- MACs and the peak -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["tiny_fp32_bundle", "tiny_int8_bundle"])
def test_graph_macs_match_the_model_dimensions(request, which):
    """conftest's model: 2 layers, hidden 32, FFN 64. Per token and layer: Q, K, V, O (4·32·32) + FFN (2·32·64);
    attention: Q·Kᵀ and P·V cost 32 per token per position each; pooler (32·32) + classifier (32·2) once per sequence.
    The int8 graph (MatMulInteger, QAttention, the quantized pooler) must count the same work."""
    bundle = request.getfixturevalue(which)
    m = count_macs(bundle / read_manifest(bundle)["model_file"])
    assert (m.linear_per_token, m.attention_per_token_per_position, m.pooled_per_sequence) == (
        2 * (4 * 32 * 32 + 2 * 32 * 64),
        2 * 2 * 32,
        32 * 32 + 32 * 2,
    )
    assert m.per_call(2, 10) == 2 * (10 * 16384 + 100 * 128 + 1088)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_probe_model_computes_a_matmul(precision):
    import onnxruntime as ort

    sess = ort.InferenceSession(peak.matmul_model(precision, 3, 4, 5), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 4)).astype(np.uint8 if precision == "int8" else np.float32)
    b = rng.integers(-128, 128, (4, 5)).astype(np.int8 if precision == "int8" else np.float32)
    (y,) = sess.run(None, {"A": a, "B": b})
    assert np.array_equal(y, a.astype(np.int64) @ b.astype(np.int64)) if precision == "int8" else np.allclose(y, a @ b)


def test_machine_peak_is_cached_per_machine_when_quiet(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEBERT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(peak, "probe", lambda precision, threads, shape: {"int8": 800.0, "fp32": 200.0}[precision])
    monkeypatch.setattr("edgebert.bench.environment.CpuLoad.stop", lambda self: {"total": 0.5, "others": 0.0})
    first = peak.machine_peak(2)
    assert first["cached"] is False and first["int8_gops"] == 800.0
    assert peak.machine_peak(2)["cached"] is True
    assert peak.machine_peak(1)["cached"] is False  # another thread count is another peak
    monkeypatch.setattr("edgebert.bench.environment.CpuLoad.stop", lambda self: {"total": 1.0, "others": 0.8})
    assert peak.machine_peak(3)["cached"] is False and peak.machine_peak(3)["cached"] is False  # busy: not kept


def test_fraction_of_peak_uses_the_bundles_precision():
    rows = [{"achieved_gops": 100.0}, {"achieved_gops": None}]
    peak.fraction_rows(rows, "int8", {"int8_gops": 400.0, "fp32_gops": 100.0})
    assert rows[0]["fraction_of_peak"] == 0.25 and rows[1]["fraction_of_peak"] is None
    peak.fraction_rows(rows, "fp32", {"int8_gops": 400.0, "fp32_gops": 100.0})
    assert rows[0]["fraction_of_peak"] == 1.0


# --- bench --interleave ------------------------------------------------------------------------------------------------
def test_interleaved_bench_writes_one_paired_document_per_bundle(tiny_fp32_bundle, tiny_int8_bundle, tmp_path):
    docs = bench_interleaved(
        [tiny_fp32_bundle, tiny_int8_bundle, tiny_int8_bundle],
        batch_sizes=[1],
        seq_lens=[8],
        real=True,
        warmup=1,
        iterations=6,
        out_dir=tmp_path,
        quiet_wait_s=0,
    )
    names = output_names([tiny_fp32_bundle, tiny_int8_bundle, tiny_int8_bundle])
    assert names == ["fp32.json", "1-int8.json", "2-int8.json"]
    runs = [load_results(tmp_path / n) for n in names]
    assert [r.doc for r in runs] == json.loads(json.dumps(docs))
    groups = {r.doc["interleaved"]["group"] for r in runs}
    assert len(groups) == 1
    for i, r in enumerate(runs):
        inter = r.doc["interleaved"]
        assert inter["position"] == i and [b["results_file"] for b in inter["bundles"]] == names
        assert [(row["mode"], row["seq_len"], len(row["samples_ms"])) for row in r.doc["latency"]] == [
            ("synthetic", 8, 6),
            ("real", None, 6),
        ]
        for row in r.doc["latency"]:
            assert row["macs_per_call"] > 0 and row["achieved_gops"] > 0 and 0 < row["fraction_of_peak"]
        assert r.doc["limits"]["peak"]["int8_gops"] > 0 and r.doc["limits"]["graph_macs"]["linear_per_token"] == 16384
    ratios = runs[0].doc["interleaved"]["ratios_to_first"]
    assert [(x["mode"], x["bundle"]) for x in ratios] == [("synthetic", 1), ("synthetic", 2), ("real", 1), ("real", 2)]
    assert all(x["low"] <= x["ratio"] <= x["high"] and x["paired"] for x in ratios)
    assert runs[1].doc["interleaved"]["ratios_to_first"] == [x for x in ratios if x["bundle"] == 1]
    # compare pairs two documents of one set; report sets them side by side
    out = CliRunner().invoke(
        cli, ["compare", str(tmp_path / names[1]), str(tmp_path / names[2]), "--format", "json", "--allow-busy"]
    )
    assert out.exit_code in (0, 1) and json.loads(out.stdout)["paired"] is True
    assert "x86-avx512-vnni onnx int8" in render_report([tmp_path / n for n in names])


def test_a_runoff_times_real_lengths_only_and_scores_nothing(tiny_fp32_bundle, tiny_int8_bundle, tmp_path, monkeypatch):
    """edgebert run's runoff: no synthetic workload, a sample of the texts, and no scoring pass (its trials' metric on
    those texts is already known)."""
    from edgebert.bench import interleave

    monkeypatch.setattr(interleave, "score_bundle", lambda *a: pytest.fail("a timing-only bench scored a bundle"))
    docs = bench_interleaved(
        [tiny_fp32_bundle, tiny_int8_bundle],
        batch_sizes=[1],
        seq_lens=[],
        real=True,
        warmup=1,
        iterations=5,
        quiet_wait_s=0,
        score=False,
    )
    for doc in docs:
        assert [(r["mode"], len(r["samples_ms"])) for r in doc["latency"]] == [("real", 5)]
        assert doc["accuracy"] is None and doc["settings"]["seq_lens"] == []
    with pytest.raises(UserError, match="give at least one sequence length"):  # without real lengths, nothing to time
        bench_interleaved([tiny_fp32_bundle, tiny_int8_bundle], batch_sizes=[1], seq_lens=[], real=False)


def test_interleave_cli_prints_ratios_with_intervals(tiny_fp32_bundle, tiny_int8_bundle, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            str(tiny_fp32_bundle),
            str(tiny_int8_bundle),
            "--interleave",
            "--batch-sizes",
            "1",
            "--seq-lens",
            "8",
            "--warmup",
            "1",
            "--iterations",
            "4",
            "--quiet-wait",
            "0",
            "--out-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "95% interval" in result.output and "% peak" in result.output and "quiet gate" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fp32.json", "int8.json"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["B", "B"], "pass --interleave to time them side by side"),
        (["B", "--interleave"], "needs at least two bundles"),
        (["B", "B", "--interleave", "--out", "x.json"], "use --out-dir DIR"),
        (["B", "B", "--interleave", "--min-time", "1"], "--min-time does not apply with --interleave"),
        (["B", "B", "--interleave", "--out-dir", "B"], "inside"),  # never into a bundle
        (["B", "--out-dir", "."], "--out-dir is for --interleave"),
    ],
)
def test_interleave_usage_errors(tiny_int8_bundle, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["bench", *[str(tiny_int8_bundle) if a == "B" else a for a in args]])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_interleave_refuses_bundles_with_different_workloads(tiny_int8_bundle, tiny_fp32_bundle):
    with pytest.raises(UserError, match="at least two"):
        bench_interleaved([tiny_int8_bundle], quiet_wait_s=0)
    with pytest.raises(UserError, match="quiet-machine wait"):
        bench_interleaved([tiny_int8_bundle, tiny_fp32_bundle], quiet_wait_s=-1)
