"""What this CPU can do, as far as kernel choice goes. Pure stdlib: runs on a Raspberry Pi without extras."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# The flags that decide which int8/fp16 kernels onnxruntime and PyTorch pick.
KERNEL_FEATURES = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_int8",
    "avx_vnni",
    "asimd",
    "asimddp",
    "i8mm",
    "bf16",
)
# aarch64 AT_HWCAP / AT_HWCAP2 bits (Linux uapi asm/hwcap.h) for the ARM flags above.
_HWCAP_BITS = (("asimd", 16, 1 << 1), ("asimddp", 16, 1 << 20), ("i8mm", 26, 1 << 13), ("bf16", 26, 1 << 14))


def machine() -> str:
    """Normalised architecture name: x86_64 or aarch64."""
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    model, flags = platform.processor() or machine(), set()
    path = Path("/proc/cpuinfo")
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware", "cpu model") and value.strip():
                model = value.strip()
            elif key in ("flags", "features"):
                flags.update(value.split())
    return model, frozenset(flags | _hwcap_features())


def _hwcap_features() -> set[str]:
    """ARM flags from the kernel's auxiliary vector: what onnxruntime falls back to when it cannot read /sys.

    Under qemu-user they follow QEMU_CPU, while /proc/cpuinfo still shows the host's flags (Debian 12's qemu 7.2).
    """
    if machine() != "aarch64":
        return set()
    import ctypes

    try:
        getauxval = ctypes.CDLL(None).getauxval
    except (OSError, AttributeError):  # not glibc/musl Linux
        return set()
    getauxval.restype, getauxval.argtypes = ctypes.c_ulong, [ctypes.c_ulong]
    return {name for name, kind, bit in _HWCAP_BITS if getauxval(kind) & bit}


def cpu_model() -> str:
    return _cpuinfo()[0]


def cpu_features() -> frozenset[str]:
    """All flags the OS reports, lower case (x86 `flags`, ARM `Features`)."""
    return _cpuinfo()[1]


def kernel_features() -> list[str]:
    """The subset of flags that matter for kernel choice, in a fixed order."""
    have = cpu_features()
    return [f for f in KERNEL_FEATURES if f in have]


def trains_in_bf16() -> bool:
    """Whether training here should run its matrix products in bf16: only where the CPU has Intel AMX, which
    multiplied a MiniLM-sized bf16 matrix 4.4x faster than fp32 on 2 cores (AVX-512 BF16 alone is no such win)."""
    return "amx_bf16" in cpu_features()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
