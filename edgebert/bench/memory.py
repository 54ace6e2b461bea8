"""Resident memory while a bundle runs, and the bundle's sizes on disk. psutil + stdlib only.

Two peaks, because each misses something: a sampler thread sees the RSS of this run only but can miss a spike
shorter than its interval; the kernel's high-water mark never misses a spike but covers the whole process life,
imports and anything run earlier in the same process included.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil


def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


def max_rss_os_bytes() -> int | None:
    """The kernel's peak RSS of this process: VmHWM on Linux, else getrusage's ru_maxrss.

    Why VmHWM first: Linux carries ru_maxrss across fork + exec, so a bench started by a big parent (a test
    runner holding torch, say) would report the parent's peak; VmHWM belongs to this program's own memory map.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB elsewhere


class RssSampler:
    """Samples this process's RSS every `interval_s` in a daemon thread; `peak` is the largest seen.

    A psutil read costs ~10 µs and releases the GIL while it sleeps, so sampling every 5 ms adds well under 1%
    of one core; the inference threads run in onnxruntime without the GIL.
    """

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()

    def sample(self) -> int:
        rss = int(self._process.memory_info().rss)
        self.peak = max(self.peak, rss)
        self.samples += 1
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> "RssSampler":
        self.sample()
        self._thread = threading.Thread(target=self._run, name="edgebert-rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def arena_settings(runner: Any) -> dict[str, Any] | None:
    """The onnxruntime memory settings the session runs with (None for runners without them, e.g. TorchScript)."""
    opts = getattr(runner, "session_options", None)
    if opts is None:
        return None
    return {
        "cpu_mem_arena": bool(opts.enable_cpu_mem_arena),
        "mem_pattern": bool(opts.enable_mem_pattern),
        "execution_mode": str(opts.execution_mode).split(".")[-1],
    }


def device_bytes(providers: list[str]) -> int | None:
    """GPU memory this process holds when it runs on CUDA (from nvidia-smi, which ships with the driver); else None."""
    if not any(p.startswith("CUDA") or p.startswith("Tensorrt") for p in providers):
        return None
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi(out, os.getpid())


def parse_nvidia_smi(text: str, pid: int) -> int | None:
    """Bytes used by `pid` in `nvidia-smi --query-compute-apps=pid,used_memory` CSV output (MiB values)."""
    total, seen = 0, False
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid) and parts[1].isdigit():
            total += int(parts[1]) * 1024 * 1024
            seen = True
    return total if seen else None


class _CountingSink:
    """A write-only file object that only counts bytes: gzip's output size without keeping it in memory."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def gzip_bytes(source: Path | bytes, level: int = 6) -> int:
    """Size of a file (or of bytes) gzip-compressed: zeroed (pruned) weights compress, so sparsity shows up here.
    The one gzip measure: bench's model_gzip_bytes and compress's stage records (prune_unstructured) both use it."""
    sink = _CountingSink()
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=level, mtime=0) as gz:
        if isinstance(source, (bytes, bytearray)):
            gz.write(source)
        else:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, gz, 1 << 20)
    return sink.bytes


def sizes(bundle_dir: Path, manifest: dict[str, Any]) -> dict[str, int]:
    model = Path(bundle_dir) / manifest["model_file"]
    bundle_bytes = sum(p.stat().st_size for p in Path(bundle_dir).rglob("*") if p.is_file())
    return {"model_bytes": model.stat().st_size, "model_gzip_bytes": gzip_bytes(model), "bundle_bytes": bundle_bytes}
