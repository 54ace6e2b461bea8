"""`edgebert compare`: the regression gate's exit codes, its messages, what it refuses, and golden outputs."""

from __future__ import annotations

import json

import pytest

from edgebert.errors import RegressionError, UserError
from edgebert.report import compare_runs, load_results
from edgebert.report.compare import Check
from report_fixtures import check_golden, make_results, run, write_results


@pytest.fixture
def pair(tmp_path):
    """Write a baseline and a candidate results file; returns (baseline path, candidate path)."""

    def write(baseline: dict, candidate: dict):
        return write_results(tmp_path, "baseline.json", baseline), write_results(tmp_path, "candidate.json", candidate)

    return write


def one_line_error(result) -> str:
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


def test_two_runs_of_the_same_bundle_pass(pair):
    # Same bundle, timed twice with different noise (seeds): every p50 within a few percent.
    base, cand = pair(make_results("fp32", seed=0), make_results("fp32", seed=1))
    result = run("compare", base, cand)
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout and "same bundle (same sha256)" in result.stdout


def test_the_same_file_passes(pair):
    base, _ = pair(make_results("int8"), make_results("int8"))
    assert run("compare", base, base).exit_code == 0


def test_planted_latency_regression_fails_and_says_by_how_much(pair):
    base_doc, cand_doc = make_results("fp32", seed=0), make_results("fp32", seed=0, scale=1.2)
    base, cand = pair(base_doc, cand_doc)
    result = run("compare", base, cand)
    assert result.exit_code == 1
    err = one_line_error(result)
    assert "p50 latency" in err and "regressed +20.0%" in err and "over the +5.0% limit" in err
    assert "and 2 more figures over a threshold" in err  # all three workloads slowed down
    assert "FAIL (3 of 4 checks over a threshold)" in result.stdout


# (planted scale, seed of the candidate's noise, band, exit code, verdict on each workload: real, seq 128, seq 32).
# The fixtures' calls scatter log-normally by ~6 % (100 calls; 1275 at real lengths), so a 4-6 % change is within
# the noise of the synthetic rows and the gate must say so rather than guess.
@pytest.mark.parametrize(
    "scale, seed, limit, code, verdicts",
    [
        (1.0, 1, "5%", 0, ["no change"] * 3),
        (1.2, 0, "25%", 0, ["no change"] * 3),
        (1.2, 0, "10%", 1, ["regressed"] * 3),
        (1.2, 0, "19%", 1, ["regressed", "undecidable (too noisy)", "undecidable (too noisy)"]),
        (1.04, 0, "5%", 0, ["no change", "undecidable (too noisy)", "undecidable (too noisy)"]),
        (1.06, 0, "5%", 1, ["regressed", "undecidable (too noisy)", "undecidable (too noisy)"]),
        (1.1, 1, "5%", 1, ["regressed"] * 3),
        (0.5, 0, "5%", 0, ["improved"] * 3),
        (0.5, 0, "0%", 0, ["improved"] * 3),
    ],
)
def test_latency_verdicts(pair, scale, seed, limit, code, verdicts):
    base, cand = pair(make_results("fp32"), make_results("fp32", scale=scale, seed=seed))
    result = run("compare", base, cand, "--max-latency-regression", limit, "--format", "json")
    assert result.exit_code == code
    doc = json.loads(result.stdout)
    assert [c["verdict"] for c in doc["checks"] if c["kind"] == "latency"] == verdicts
    for c in doc["checks"][:3]:
        assert c["ratio_low"] <= c["ratio"] <= c["ratio_high"]


def test_undecidable_passes_but_says_so(pair):
    base, cand = pair(make_results("fp32"), make_results("fp32", scale=1.04))
    result = run("compare", base, cand)
    assert result.exit_code == 0
    assert "PASS (2 latency figures undecidable: too noisy)" in result.stdout
    assert "| undecidable (too noisy) |" in result.stdout


@pytest.mark.parametrize("limit", ["5", "0.05", "5 percent"])
def test_latency_threshold_must_carry_percent(pair, limit):
    result = run("compare", *pair(make_results("fp32"), make_results("fp32")), "--max-latency-regression", limit)
    assert result.exit_code == 2 and "written with %, such as 5%" in one_line_error(result)


@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_runs_under_foreign_load_are_refused_unless_allowed(pair, side):
    docs = {"baseline": make_results("fp32"), "candidate": make_results("fp32", seed=1)}
    docs[side]["environment"].update(cpu_load_others_before=0.05, cpu_load_others_during=0.84)
    base, cand = pair(docs["baseline"], docs["candidate"])
    result = run("compare", base, cand)
    assert result.exit_code == 2
    assert f"the {side} was measured while other processes used 84% of the CPUs" in one_line_error(result)
    assert "--allow-busy" in result.stderr
    allowed = run("compare", base, cand, "--allow-busy")
    assert allowed.exit_code == 0 and "Measured under foreign load" in allowed.stdout


def test_quiet_runs_pass_the_busy_check(pair):
    docs = [make_results("fp32"), make_results("fp32", seed=1)]
    for d in docs:
        d["environment"].update(cpu_load_others_before=0.25, cpu_load_others_during=0.1)  # at the limit: quiet enough
    assert run("compare", *pair(*docs)).exit_code == 0


def test_one_interleaved_set_is_compared_paired(pair):
    """Two documents of one `bench --interleave` set: rounds are resampled jointly, and a drift that hit both
    sides alike (here: every round of both 0-60 % slower, in step) cancels in the ratio."""
    base, cand = make_results("fp32"), make_results("fp32")
    for d in (base, cand):
        d["interleaved"] = {"group": "g1", "position": 0}
    for rb, rc in zip(base["latency"], cand["latency"]):
        drift = [1 + 0.6 * ((i * 37) % 100) / 100 for i in range(len(rb["samples_ms"]))]
        rb["samples_ms"] = [v * d for v, d in zip(rb["samples_ms"], drift)]
        rc["samples_ms"] = [v * d * 1.1 for v, d in zip(rb["samples_ms"], [1.0] * len(drift))]
        rb["p50_ms"] = sorted(rb["samples_ms"])[len(rb["samples_ms"]) // 2]
    paired = json.loads(run("compare", *pair(base, cand), "--format", "json").stdout)
    assert paired["paired"] is True
    assert [c["verdict"] for c in paired["checks"][:3]] == ["regressed"] * 3
    for c in paired["checks"][:3]:
        assert c["ratio_high"] - c["ratio_low"] < 1e-9  # every round exactly 1.1x: no spread left to resample
    del cand["interleaved"]
    unpaired = json.loads(run("compare", *pair(base, cand), "--format", "json").stdout)
    assert unpaired["paired"] is False
    assert all(c["ratio_high"] - c["ratio_low"] > 0.01 for c in unpaired["checks"][:3])


@pytest.mark.parametrize("drop_points, limit, code", [(1.0, "0.5", 1), (1.0, "1.5", 0), (0.4, "0.5", 0), (0.0, "0", 0)])
def test_accuracy_threshold(pair, drop_points, limit, code):
    cand = make_results("fp32")
    cand["accuracy"]["accuracy"] -= drop_points / 100
    base, cand = pair(make_results("fp32"), cand)
    result = run("compare", base, cand, "--max-accuracy-drop", limit)
    assert result.exit_code == code
    if code:
        assert f"accuracy dropped {drop_points:.2f} points" in one_line_error(result)


def test_at_the_limit_passes():
    check = Check("accuracy", 82.58, 82.08, 82.08 - 82.58, 0.5, "accuracy")  # 0.5000000000000x in floats
    assert check.passed
    assert Check("p50", 10.0, 10.5, 5.0, 5.0, "latency").passed
    assert not Check("p50", 10.0, 10.6, 6.0, 5.0, "latency").passed


def different_machine(doc):
    doc["environment"].update(machine_id="f" * 64, cpu_model="Neoverse-N1", cores=4)


@pytest.mark.parametrize(
    "change, message",
    [
        (different_machine, "machine_id"),
        (lambda d: d["environment"].update(cores=4), "cores 2 vs 4"),
        (lambda d: (d["settings"].update(threads=1), d["environment"].update(threads=1)), "threads 2 vs 1"),
    ],
)
def test_different_environments_are_refused_unless_allowed(pair, change, message):
    cand = make_results("fp32", seed=1)
    change(cand)
    base, cand = pair(make_results("fp32"), cand)
    result = run("compare", base, cand)
    assert result.exit_code == 2
    err = one_line_error(result)
    assert message in err and "--allow-different-env" in err
    allowed = run("compare", base, cand, "--allow-different-env")
    assert allowed.exit_code == 0 and "Different environments" in allowed.stdout


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["bundle"].update(task="sst2"), "different tasks"),
        (lambda d: d["accuracy"].update(dataset_sha256="0" * 64), "different datasets"),
    ],
)
def test_different_tasks_or_datasets_are_refused_even_when_env_is_allowed(pair, change, message):
    cand = make_results("fp32")
    change(cand)
    base, cand = pair(make_results("fp32"), cand)
    result = run("compare", base, cand, "--allow-different-env")
    assert result.exit_code == 2 and message in one_line_error(result)


def test_emulated_latency_is_not_gated(pair):
    base, cand = pair(make_results("int8", emulated=True), make_results("int8", emulated=True, scale=1.5))
    result = run("compare", base, cand)
    assert result.exit_code == 0
    assert "emulated" in result.stdout and "only accuracy is gated" in result.stdout
    assert "| accuracy |" in result.stdout


def test_no_shared_workload_is_an_error(pair):
    base_doc, cand_doc = make_results("fp32"), make_results("fp32")
    base_doc["latency"] = base_doc["latency"][:1]
    cand_doc["latency"] = cand_doc["latency"][1:]
    result = run("compare", *pair(base_doc, cand_doc))
    assert result.exit_code == 2 and "share no timed workload" in one_line_error(result)


def test_unshared_workloads_are_listed_not_gated(pair):
    base_doc = make_results("fp32")
    base_doc["latency"] = base_doc["latency"][:2]
    result = run("compare", *pair(base_doc, make_results("fp32", seed=1)), "--format", "json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["skipped"] == ["real lengths, batch 1: timed only in the candidate"]
    assert len(doc["checks"]) == 3


def test_accuracy_in_only_one_run_is_an_error(pair):
    cand = make_results("fp32")
    cand["accuracy"] = None
    result = run("compare", *pair(make_results("fp32"), cand))
    assert result.exit_code == 2 and "accuracy was measured in only one run" in one_line_error(result)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-latency-regression", "fast"], "--max-latency-regression takes a number of percent"),
        (["--max-accuracy-drop", "half"], "--max-accuracy-drop takes a number of percentage points"),
        (["--max-latency-regression", "-3%"], "must be a number >= 0"),
        (["--max-accuracy-drop", "-1"], "must be a number >= 0"),
    ],
)
def test_bad_thresholds(pair, args, message):
    result = run("compare", *pair(make_results("fp32"), make_results("fp32")), *args)
    assert result.exit_code == 2 and message in one_line_error(result)


def test_bad_results_file(pair, tmp_path):
    base, _ = pair(make_results("fp32"), make_results("fp32"))
    (tmp_path / "broken.json").write_text('{"schema_version": 1, "kind": "bench-results"')
    result = run("compare", base, tmp_path / "broken.json")
    assert result.exit_code == 2 and "is not JSON" in one_line_error(result)
    missing = run("compare", base, tmp_path / "missing.json")
    assert missing.exit_code == 2 and "does not exist" in one_line_error(missing)


def test_out_writes_the_comparison_even_when_failing(pair, tmp_path):
    base, cand = pair(make_results("fp32"), make_results("fp32", scale=1.2))
    result = run("compare", base, cand, "--format", "json", "--out", tmp_path / "cmp.json")
    assert result.exit_code == 1
    assert json.loads((tmp_path / "cmp.json").read_text()) == json.loads(result.stdout)
    bad_out = run("compare", base, cand, "--out", tmp_path / "cmp.json" / "cmp.md")  # a file where a directory goes
    assert bad_out.exit_code == 2 and "is a file, not a directory" in one_line_error(bad_out) and bad_out.stdout == ""


def test_library_raises_typed_errors(tmp_path):
    a = load_results(write_results(tmp_path, "a.json", make_results("fp32")))
    b_doc = make_results("fp32")
    different_machine(b_doc)
    b = load_results(write_results(tmp_path, "b.json", b_doc))
    with pytest.raises(UserError, match="different environments"):
        compare_runs(a, b)
    slow = load_results(write_results(tmp_path, "c.json", make_results("fp32", scale=1.3)))
    cmp = compare_runs(a, slow)
    assert not cmp.passed and len(cmp.failures) == 3
    assert all(c.change == pytest.approx((c.candidate / c.baseline - 1) * 100) for c in cmp.failures)
    assert issubclass(RegressionError, Exception) and RegressionError.exit_code == 1


@pytest.mark.parametrize("fmt, golden", [("md", "compare_regression.md"), ("json", "compare_regression.json")])
def test_golden_outputs(pair, fmt, golden):
    cand = make_results("fp32", seed=0, scale=1.2)
    cand["accuracy"]["accuracy"] = 0.8201
    result = run("compare", *pair(make_results("fp32", seed=0), cand), "--format", fmt)
    assert result.exit_code == 1
    check_golden(golden, result.stdout)
