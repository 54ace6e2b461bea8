"""Fleet reports: results of the same bundles from several devices make a device x bundle matrix (Markdown, HTML with
a chart). Two synthetic result sets, a Raspberry Pi 4 and a Pi 5, each with fp32, int8 and pruned bundles."""

from __future__ import annotations

import hashlib
import re

import pytest

from edgebert.report.fleet import build_fleet
from edgebert.report.results import load_results
from test_report import check_golden, run
from report_fixtures import make_results, write_results

# (name, CPU model, cores, slowdown against the fixtures' x86 figures, GEMM peak GOP/s int8 and fp32): synthetic.
DEVICES = [("pi4", "Cortex-A72", 4, 6.0, (200.0, 60.0)), ("pi5", "Cortex-A76", 4, 2.5, (600.0, 160.0))]


def device_results(directory, name: str, cpu: str, cores: int, slowdown: float, peak: tuple[float, float]) -> list:
    paths = []
    for variant in ("fp32", "int8", "pruned"):
        doc = make_results(variant, scale=slowdown, target="arm64-pi4")
        doc["environment"].update(
            machine_id=hashlib.sha256(f"{cpu}|{cores}|aarch64".encode()).hexdigest(),
            cpu_model=cpu,
            arch="aarch64",
            cores=cores,
            threads=cores,
            hostname=name,
            cpu_features=["asimd"] + (["asimddp"] if cpu == "Cortex-A76" else []),
        )
        doc["settings"]["threads"] = cores
        for row in doc["latency"]:  # the bench's limit fields: MACs per call, GOP/s, share of the measured peak
            tokens = row["seq_len"] or row.get("mean_tokens", 27.1)
            row["macs_per_call"] = (21_000_000 if variant != "pruned" else 15_000_000) * tokens
            row["achieved_gops"] = 2 * row["macs_per_call"] / (row["p50_ms"] * 1e6)
            row["fraction_of_peak"] = row["achieved_gops"] / (peak[0] if variant == "int8" else peak[1])
        paths.append(write_results(directory, f"{name}-{variant}.json", doc))
    return paths


def fleet_files(tmp_path) -> list:
    return [p for d in DEVICES for p in device_results(tmp_path, *d)]


def test_fleet_matrix_is_device_by_bundle(tmp_path):
    f = build_fleet([load_results(p) for p in fleet_files(tmp_path)])
    assert [label for _, label in f.devices] == ["Cortex-A72 (aarch64, 4 cores)", "Cortex-A76 (aarch64, 4 cores)"]
    assert [label for _, label in f.bundles] == [
        "arm64-pi4 onnx fp32",
        "arm64-pi4 onnx int8",
        "arm64-pi4 onnx fp32 pruned",
    ]
    assert len(f.workloads) == 3 and len(f.cells) == 2 * 3 * 3
    pi4, pi5 = (mid for mid, _ in f.devices)
    fp32 = f.bundles[0][0]
    real = f.workloads[0]
    assert real.mode == "real"
    assert f.cell(pi4, fp32, real)["p50_ms"] / f.cell(pi5, fp32, real)["p50_ms"] == pytest.approx(6.0 / 2.5, rel=1e-3)


def test_one_machine_has_no_fleet_section(tmp_path):
    paths = [write_results(tmp_path, f"{v}.json", make_results(v)) for v in ("fp32", "int8")]
    assert build_fleet([load_results(p) for p in paths]) is None
    assert "Fleet" not in run("report", *paths).stdout


def test_fleet_markdown_golden(tmp_path):
    result = run("report", *fleet_files(tmp_path), "--no-baseline")
    assert result.exit_code == 0, result.output
    section = result.stdout[result.stdout.index("### Fleet") : result.stdout.index("### Latency by workload")]
    assert section.count("| Cortex-A72 (aarch64, 4 cores) |") == 3  # one matrix per workload
    check_golden("report_fleet.md", result.stdout)


def test_fleet_html_has_matrix_and_chart(tmp_path):
    result = run("report", *fleet_files(tmp_path), "--format", "html", "--no-baseline")
    assert result.exit_code == 0, result.output
    page = result.stdout
    fleet = page[page.index("<h2>Fleet: device × bundle</h2>") : page.index("<h2>Charts</h2>")]
    assert fleet.count("<svg") == 3 and fleet.count("<table") == 3
    assert "Cortex-A76 (aarch64, 4 cores)" in fleet and "of peak" in fleet
    bars = re.findall(r'<rect x="[^"]+" y="[^"]+" width="([0-9.]+)"[^>]*><title>([^<]+)</title>', fleet)
    assert len(bars) == 3 * 6  # every device x bundle cell drawn once per workload
    assert all("Cortex" in title for _, title in bars)
