"""Report and compare read what `edgebert bench` really writes (tiny bundles, a few calls): the two ends agree."""

from __future__ import annotations

import json

import pytest

from report_fixtures import gfm_tables, run


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory, tiny_fp32_bundle, tiny_int8_bundle):
    out = tmp_path_factory.mktemp("bench-results")
    paths = []
    for name, bundle in (("fp32", tiny_fp32_bundle), ("int8", tiny_int8_bundle)):
        path = out / f"{name}.json"
        result = run(
            "bench",
            bundle,
            "--batch-sizes",
            "1",
            "--seq-lens",
            "16",
            "--real",
            "--warmup",
            "1",
            "--iterations",
            "5",
            "--out",
            path,
        )
        assert result.exit_code == 0, result.output
        paths.append(path)
    return paths


def test_report_reads_bench_output(bench_files, tmp_path):
    result = run("report", *bench_files, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    docs = [json.loads(p.read_text()) for p in bench_files]
    assert [r["bundle"]["label"] for r in doc["runs"]] == [d["bundle"]["label"] for d in docs]
    assert doc["headline_workload"] == {"mode": "real", "batch_size": 1, "seq_len": None}
    real = [next(r for r in d["latency"] if r["mode"] == "real") for d in docs]
    assert doc["runs"][1]["vs_baseline"]["speedup"] == pytest.approx(real[0]["p50_ms"] / real[1]["p50_ms"])
    assert doc["runs"][1]["accuracy"] == docs[1]["accuracy"]["accuracy"]

    md = run("report", *bench_files).stdout
    assert len(gfm_tables(md)[0]) == 3
    page = tmp_path / "r.html"
    assert run("report", *bench_files, "--out", page).exit_code == 0
    assert page.read_text().count('<svg class="chart"') == 3


def test_compare_reads_bench_output(bench_files):
    # --allow-busy: this test's machine may be loaded by other work; the busy check has its own tests (test_compare.py).
    same = run("compare", bench_files[0], bench_files[0], "--format", "json", "--allow-busy")
    assert same.exit_code == 0, same.output
    checks = json.loads(same.stdout)["checks"]
    assert [c["figure"] for c in checks] == [
        "p50 latency (real lengths, batch 1)",
        "p50 latency (synthetic, batch 1, seq 16)",
        "accuracy",
    ]
    # fp32 against int8 of one model on one machine: compared (exit 0 or 1 by the figures), never refused.
    assert run("compare", *bench_files, "--allow-busy").exit_code in (0, 1)
