"""benchmarks/make_example_reports.py end to end on the tiny model: compress, export, bench, report (slow)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package: import it from the checkout
    sys.path.insert(0, str(ROOT))

from benchmarks import publish  # noqa: E402


@pytest.mark.slow
def test_example_reports_quick_run(tiny_trained_model, tiny_dataset):
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/make_example_reports.py",
            "--model",
            str(tiny_trained_model),
            "--dataset",
            str(tiny_dataset),
            "--max-length",
            "32",
            "--quick",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    wrote = [line.split("wrote ", 1)[1].strip() for line in proc.stderr.splitlines() if "wrote " in line]
    out = Path(wrote[-1]).parent  # a quick run's work directory is a temp directory; its reports/ is what publishes
    try:
        check_outputs(out)
        assert out == out.parent / "reports" and not (out.parent / "bundles").exists()  # a smoke run keeps no bundles
        assert set(publish.planned(out.parent).values()) == {
            "example.md",
            "example.html",
            *(f"example-results/{n}.json" for n in ("fp32", "int8", "pruned")),
        }
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def check_outputs(out: Path) -> None:
    md = (out / "example.md").read_text()
    assert "Regenerate with `python benchmarks/make_example_reports.py --model" in md
    docs = {p.stem: json.loads(p.read_text()) for p in (out / "example-results").glob("*.json")}
    assert sorted(docs) == ["fp32", "int8", "pruned"]
    assert docs["int8"]["bundle"]["precision"] == "int8"
    assert docs["pruned"]["bundle"]["stages"][0] == "prune_structured"
    assert docs["pruned"]["bundle"]["parameters"] < docs["fp32"]["bundle"]["parameters"]
    assert (out / "example.html").read_text().count('<svg class="chart"') == 3
