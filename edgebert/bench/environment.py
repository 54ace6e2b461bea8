"""Where the numbers were measured: CPU, kernel features, runtime versions, other load, emulation. No torch.

A latency means little without the machine that produced it, so every results document carries this section,
including how busy the machine was with other work: on a shared or noisy host that, not the model, can
dominate the timings.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from typing import Any

import psutil

from edgebert import cpu
from edgebert._version import __version__
from edgebert.errors import ConfigError

# Set to 1 by scripts that run bench under qemu-user (benchmarks/arm64_emulated.sh): latency is then meaningless.
EMULATED_ENV = "EDGEBERT_EMULATED"
BUSY_LOAD = 0.25  # other processes using more than this share of the CPUs make timings unreliable


def machine_id() -> str:
    """sha256 of CPU model + usable cores + arch: the same box gets the same id, without naming the host."""
    return hashlib.sha256(f"{cpu.cpu_model()}|{cpu.usable_cores()}|{cpu.machine()}".encode()).hexdigest()


def looks_emulated() -> bool:
    """True when EDGEBERT_EMULATED is set to a true value, or the CPU flags belong to another architecture.

    qemu-user (as in Debian 12) passes the host's /proc/cpuinfo through, so an aarch64 process that sees x86
    flags (or the reverse) is running under emulation. qemu versions that fake cpuinfo are caught only by the
    variable, which the emulation scripts set.
    """
    if os.environ.get(EMULATED_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    arch, flags = cpu.machine(), cpu.cpu_features()
    if arch == "aarch64" and {"sse2", "avx2"} & flags:
        return True
    return arch == "x86_64" and {"asimd", "neon"} & flags != set()


class CpuLoad:
    """Share of all CPUs busy over an interval, split into this process and everything else.

    From /proc/stat-style counters (psutil.cpu_times) and this process's CPU time, so the others' share is what
    a noisy neighbour took while the benchmark ran. On hosts where /proc/stat covers more CPUs than this process
    may use (containers), the shares are of the whole host.
    """

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.start()

    def _read(self) -> tuple[float, float, float]:
        t = psutil.cpu_times()
        busy = sum(getattr(t, f) for f in t._fields if f not in ("idle", "iowait", "guest", "guest_nice"))
        own = sum(self._proc.cpu_times()[:2])
        return busy, own, time.monotonic()

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        busy, own, now = self._read()
        capacity = max((now - self._start[2]) * (psutil.cpu_count() or 1), 1e-9)
        total = min(max((busy - self._start[0]) / capacity, 0.0), 1.0)
        others = min(max(total - (own - self._start[1]) / capacity, 0.0), 1.0)
        return {"total": round(total, 4), "others": round(others, 4)}


def target_warnings(manifest: dict[str, Any]) -> list[str]:
    """A warning when the bundle's target needs what this host lacks, per `Target.missing_cpu_features()`."""
    from edgebert.targets import parse_target

    fields = {k: v for k, v in manifest.get("target", {}).items() if k != "precision"}
    try:
        target = parse_target(fields, source="manifest")
    except ConfigError as exc:
        return [f"cannot check that the bundle's target fits this CPU ({exc})"]
    missing = target.missing_cpu_features()
    if not missing:
        return []
    return [
        f"bundle target {target.name} needs {', '.join(missing)}, which this CPU lacks: its kernels fall back to "
        "slower paths, so these figures do not represent the target; export for this machine's target instead"
    ]


def describe(
    providers: list[str],
    manifest: dict[str, Any],
    threads: int,
    load_before: dict[str, float],
    load_during: dict[str, float],
    warnings: list[str],
) -> dict[str, Any]:
    """The results document's environment section; `providers` are the ones the session really runs on."""
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:  # pragma: no cover - onnxruntime is a base dependency
        ort_version = None
    env = {
        "machine_id": machine_id(),
        "hostname": platform.node(),
        "cpu_model": cpu.cpu_model(),
        "arch": cpu.machine(),
        "cpu_features": cpu.kernel_features(),
        "cores": cpu.usable_cores(),
        "threads": threads,
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort_version,
        "execution_provider": providers[0] if providers else None,
        "edgebert_version": __version__,
        "cpu_load_before": load_before["total"],
        "cpu_load_during": load_during["total"],
        "cpu_load_others_before": load_before["others"],
        "cpu_load_others_during": load_during["others"],
        "emulated": looks_emulated(),
        "warnings": warnings,
    }
    if manifest.get("format") == "torchscript":
        env["torch"] = providers[0].removeprefix("torch-") if providers else None
    return env


def effective_threads(runner: Any) -> int:
    """Threads the runtime really uses: onnxruntime's 0 means one per physical core."""
    n = int(getattr(runner, "threads", 0) or 0)
    return n or (psutil.cpu_count(logical=False) or cpu.usable_cores())
