"""Slow checks of `edgebert bench`: a base-only install without torch, and the default model's bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BASE = {"click", "numpy", "onnxruntime", "psutil", "rich", "tokenizers"}
MB = 2**20

pytestmark = pytest.mark.slow


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=1200, **kw)


def test_base_install_benches_a_bundle_without_torch(tiny_int8_bundle, tmp_path):
    """What a Raspberry Pi gets: `pip install edgebert` with no extras, then `edgebert bench` on a bundle."""
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", venv]).returncode == 0
    pip = [venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check", "-q"]
    installed = run([*pip, "install", REPO])
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert run([*pip, "show", "torch"]).returncode != 0  # torch is absent
    assert run([venv / "bin" / "python", "-c", "import transformers"]).returncode != 0
    out = tmp_path / "r.json"
    bench = run(
        [
            venv / "bin" / "edgebert",
            "bench",
            tiny_int8_bundle,
            "--real",
            "--batch-sizes",
            "1,4",
            "--seq-lens",
            "16",
            "--iterations",
            "5",
            "--out",
            out,
        ],
        cwd=tmp_path,
    )
    assert bench.returncode == 0, bench.stdout + bench.stderr
    assert "p50" in bench.stdout and "accuracy" in bench.stdout
    doc = json.loads(out.read_text())
    reference = json.loads((tiny_int8_bundle / "manifest.json").read_text())["reference"]
    assert doc["accuracy"]["accuracy"] == pytest.approx(reference["bundle_accuracy"])
    assert len(doc["latency"]) == 4 and all(r["iterations"] == 5 for r in doc["latency"])


@pytest.fixture(scope="module")
def default_bundles(tmp_path_factory):
    """The default task model exported twice: the x86 int8 bundle (through the CLI) and an fp32 ONNX bundle."""
    from edgebert.export.exporter import export_bundle
    from edgebert.targets import QuantizationSettings
    from edgebert.tasks import default_model_dir

    root = tmp_path_factory.mktemp("default-bundles")
    model = default_model_dir()
    cli = run(
        [
            Path(sys.executable).parent / "edgebert",
            "export",
            "--target",
            "x86",
            "--model",
            model,
            "--out",
            root / "int8",
        ]
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    fp32 = export_bundle("x86", model, root / "fp32", quantization=QuantizationSettings(mode="none"))
    return {"int8": root / "int8", "fp32": fp32}


def bench_cli(bundle: Path, out: Path, *args: str) -> tuple[dict, str]:
    """`edgebert bench` in its own process, so its memory is the bench's alone (not this test's torch)."""
    done = run([Path(sys.executable).parent / "edgebert", "bench", bundle, "--out", out, *args])
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text()), done.stdout


def test_default_int8_bundle_every_figure_and_under_300_mb(default_bundles, tmp_path):
    doc, screen = bench_cli(default_bundles["int8"], tmp_path / "int8.json", "--real", "--iterations", "30")
    for text in ("synthetic", "real", "p99", "peak RSS", "accuracy", "of peak", "harness", "machine"):
        assert text in screen
    assert [(r["mode"], r["batch_size"], r["seq_len"]) for r in doc["latency"]] == [
        ("synthetic", 1, 32),
        ("synthetic", 1, 128),
        ("synthetic", 8, 32),
        ("synthetic", 8, 128),
        ("real", 1, None),
        ("real", 8, None),
    ]
    mem = doc["memory"]
    assert mem["peak_rss_sampled_bytes"] < 300 * MB and mem["max_rss_os_bytes"] < 300 * MB, mem
    acc = doc["accuracy"]
    assert acc["size"] > 1000 and acc["agreement_with_reference"] >= 0.97 and acc["accuracy"] > 0.7
    assert doc["bundle"]["precision"] == "int8" and doc["size"]["model_bytes"] < 40 * MB
    real = [r for r in doc["latency"] if r["mode"] == "real"]
    assert all(10 < r["mean_tokens"] < 60 for r in real)  # snippets average ~27 tokens, far from 128
    print(json.dumps({"memory": mem, "harness": doc["harness"], "accuracy": acc}, indent=1))


def test_default_fp32_bundle_accuracy_equals_pytorch_source(default_bundles, tmp_path):
    doc, _ = bench_cli(
        default_bundles["fp32"], tmp_path / "fp32.json", "--batch-sizes", "1", "--seq-lens", "32", "--iterations", "10"
    )
    source = json.loads((default_bundles["fp32"] / "manifest.json").read_text())["reference"]["accuracy"]
    assert abs(doc["accuracy"]["accuracy"] - source) <= 0.002, (doc["accuracy"], source)
    assert doc["accuracy"]["agreement_with_reference"] >= 0.995
