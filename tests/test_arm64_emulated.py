"""benchmarks/arm64_emulated.sh: the base install benches arm64 bundles of every task under qemu and scores as on the
host.

The full run installs system packages and builds an arm64 userland (~6 min the first time), so it is opt-in:
EDGEBERT_ARM64_TESTS=1, as root. CI runs the script as its own step. The input checks run everywhere: the script
rejects bad input before it installs or mounts anything, so they need neither root nor qemu.
"""

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "arm64_emulated.sh"
CPUS = ("cortex-a72", "cortex-a76")
# --tiny's bundles: task -> (primary metric, evaluation size)
TINY = {
    "sequence-classification": ("accuracy", 200),
    "sentence-embedding": ("spearman", 80),
    "token-classification": ("entity_f1", 80),
}


def load_compare():
    spec = importlib.util.spec_from_file_location("compare_accuracy", SCRIPT.parent / "arm64" / "compare_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args, timeout=60, **env):
    full_env = {**os.environ, "EDGEBERT_PYTHON": sys.executable, **env}
    return subprocess.run(
        ["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=full_env
    )


def fake_bundle(path: Path, arch: str | None = None) -> Path:
    """A directory with a manifest naming only a target arch (or a truncated manifest when arch is None)."""
    path.mkdir()
    manifest = {"kind": "bundle", "target": {"name": "t", "arch": arch}}
    (path / "manifest.json").write_text(json.dumps(manifest) if arch else "{")
    return path


def test_help_says_emulated_latency_is_meaningless():
    r = run_script("--help")
    assert r.returncode == 0
    assert "EMULATED LATENCY IS MEANINGLESS" in r.stdout and "benchmarks/arm64_emulated.sh [--tiny]" in r.stdout


@pytest.mark.parametrize(
    "case, args, message",
    [
        ("not a bundle", lambda tmp: [tmp], "is not a bundle (no manifest.json)"),
        ("x86 bundle", lambda tmp: [fake_bundle(tmp / "b", "x86_64")], "targets x86_64, not aarch64"),
        ("unreadable manifest", lambda tmp: [fake_bundle(tmp / "b")], "not a readable bundle manifest"),
        ("two bundles", lambda tmp: [tmp, tmp], "give one bundle"),
        ("tiny and a bundle", lambda tmp: ["--tiny", tmp], "give either --tiny or BUNDLE"),
        ("unknown option", lambda tmp: ["--fast"], "unknown option --fast"),
        (
            "zero texts",
            lambda tmp: ["--tiny", "--texts", "0"],
            "--texts (EDGEBERT_ARM64_TEXTS) must be a whole number >= 1",
        ),
        (
            "texts without eval split",
            lambda tmp: ["--texts", "5", fake_bundle(tmp / "b", "aarch64")],
            "has no eval.jsonl",
        ),
    ],
)
def test_bad_input_is_one_line_error_before_any_setup(tmp_path, case, args, message):
    r = run_script(*args(tmp_path), EDGEBERT_ARM64_CACHE=str(tmp_path / "cache"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()  # nothing was set up


def test_bad_iterations_setting_is_rejected(tmp_path):
    r = run_script("--tiny", EDGEBERT_ARM64_ITERATIONS="0", EDGEBERT_ARM64_CACHE=str(tmp_path / "cache"))
    assert r.returncode == 2 and "EDGEBERT_ARM64_ITERATIONS" in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("EDGEBERT_ARM64_TESTS") != "1",
    reason="set EDGEBERT_ARM64_TESTS=1 (as root) to build the emulated arm64 userland",
)
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root: apt-get, binfmt_misc, chroot")
@pytest.mark.skipif(
    shutil.which("apt-get") is None and shutil.which("mmdebstrap") is None, reason="needs apt-get or mmdebstrap"
)
def test_tiny_arm64_bundles_of_every_task_score_the_same_under_qemu_as_on_the_host(tmp_path):
    r = run_script("--tiny", "--results", tmp_path / "results", timeout=1800)  # exports one tiny bundle per task
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "EMULATED LATENCY IS MEANINGLESS" in r.stdout
    for task, (metric, size) in TINY.items():
        assert f"PASS {task}: {metric} and agreement with the source under emulated ARM64 match" in r.stdout
        host = json.loads((tmp_path / "results" / f"results-{task}-host.json").read_text())
        assert host["environment"]["emulated"] is False
        for cpu in CPUS:
            emu = json.loads((tmp_path / "results" / f"results-{task}-{cpu}.json").read_text())
            assert emu["environment"]["arch"] == "aarch64" and emu["environment"]["emulated"] is True
            assert emu["bundle"]["sha256"] == host["bundle"]["sha256"]
            assert emu["accuracy"]["task_type"] == task and emu["accuracy"]["metric"] == metric
            assert emu["accuracy"]["size"] == host["accuracy"]["size"] == size
            assert ("asimddp" in emu["environment"]["cpu_features"]) == (cpu == "cortex-a76")  # the CPU pin took effect
            for key in ("metric_value", "agreement_with_reference"):
                assert abs(emu["accuracy"][key] - host["accuracy"][key]) <= 1e-4
            assert any("emulation" in w for w in emu["environment"]["warnings"])


def results_doc(task: str, value: float, agreement: float | None, arch="x86_64", features=()) -> dict:
    """The parts of a bench results document compare_accuracy.py reads."""
    metric = TINY[task][0]
    return {
        "kind": "bench-results",
        "bundle": {"label": "b", "sha256": "ab" * 32},
        "environment": {"arch": arch, "emulated": arch == "aarch64", "cpu_features": list(features)},
        "accuracy": {
            "task_type": task,
            "metric": metric,
            "metric_value": value,
            metric: value,
            "agreement_with_reference": agreement,
            "dataset": "d",
            "dataset_sha256": "cd" * 32,
            "size": 80,
        },
        "latency": [],
    }


@pytest.mark.parametrize("task", list(TINY))
@pytest.mark.parametrize(
    "change, problem",
    [
        ({}, None),
        ({"metric_value": 5e-5}, None),  # within 0.01 point
        ({"metric_value": 2e-4}, "differs from the host's by 0.020 points"),
        ({"agreement_with_reference": -0.0125}, "agreement with the source differs"),  # one of 80 texts
        ({"agreement_with_reference": None}, "agreement with the source is missing"),
        ({"task_type": "other"}, "task 'other'"),
        ({"dataset_sha256": "ef" * 32}, "different evaluation data"),
    ],
)
def test_compare_checks_each_tasks_metric_and_agreement(task, change, problem):
    compare = load_compare()
    host = results_doc(task, 0.5, 0.9)
    emu = results_doc(task, 0.5, 0.9, arch="aarch64")
    for key, delta in change.items():
        old = emu["accuracy"][key]
        emu["accuracy"][key] = old + delta if isinstance(delta, float) and isinstance(old, float) else delta
    found = compare.problems(host, copy.deepcopy(emu), "cortex-a72", 0.01)
    assert found == [] if problem is None else any(problem in p for p in found), found


def test_compare_reads_results_from_before_task_types():
    """A classifier's document without metric/metric_value/task_type: its accuracy is the metric."""
    compare = load_compare()
    host, emu = (results_doc("sequence-classification", 0.89, 1.0, arch=a) for a in ("x86_64", "aarch64"))
    for doc in (host, emu):
        for key in ("metric", "metric_value", "task_type"):
            del doc["accuracy"][key]
    emu["accuracy"]["accuracy"] = 0.88
    found = compare.problems(host, emu, "cortex-a72", 0.5)
    assert any("accuracy differs from the host's by 1.000 points" in p for p in found), found
