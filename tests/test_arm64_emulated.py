"""benchmarks/arm64_emulated.sh: the base install benches an arm64 bundle under qemu and scores as on the host.

The full run installs system packages and builds an arm64 userland (~6 min the first time), so it is opt-in:
EDGEBERT_ARM64_TESTS=1, as root. CI runs the script as its own step. The input checks run everywhere: the script
rejects bad input before it installs or mounts anything, so they need neither root nor qemu.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "arm64_emulated.sh"
CPUS = ("cortex-a72", "cortex-a76")


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
def test_tiny_arm64_bundle_scores_the_same_under_qemu_as_on_the_host(tmp_path):
    r = run_script("--tiny", "--results", tmp_path / "results", timeout=1800)  # exports a tiny arm64 bundle itself
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "PASS: accuracy under emulated ARM64 matches the host's within 0.5 point" in r.stdout
    assert "EMULATED LATENCY IS MEANINGLESS" in r.stdout
    host = json.loads((tmp_path / "results" / "results-host.json").read_text())
    assert host["environment"]["emulated"] is False
    for cpu in CPUS:
        emu = json.loads((tmp_path / "results" / f"results-{cpu}.json").read_text())
        assert emu["environment"]["arch"] == "aarch64" and emu["environment"]["emulated"] is True
        assert emu["bundle"]["sha256"] == host["bundle"]["sha256"]
        assert emu["accuracy"]["size"] == host["accuracy"]["size"] == 200
        assert ("asimddp" in emu["environment"]["cpu_features"]) == (cpu == "cortex-a76")  # the CPU pin took effect
        assert abs(emu["accuracy"]["accuracy"] - host["accuracy"]["accuracy"]) <= 0.005
        assert any("emulation" in w for w in emu["environment"]["warnings"])
