"""Resident memory of one variant, measured in a fresh process: `python -m benchmarks.peers.memory_probe SPEC`.

The timing process holds every variant (and torch, transformers, optimum) at once, so its RSS says nothing
about any one of them. Here a process imports only what the variant needs, loads it, runs it on the batch-8
inputs, and prints one JSON line: RSS at each step and the OS's peak, which never misses a spike.

The peak is the kernel's VmHWM (/proc/self/status), the high-water mark of this process's own address space:
ru_maxrss would not do here, because Linux carries it across fork+exec, so a child of the big timing process
would report the parent's peak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgebert.bench.memory import max_rss_os_bytes, rss_bytes


def peak_rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except OSError:  # pragma: no cover - not Linux
        pass
    return max_rss_os_bytes()


# What each kind must import before it can load: counted apart from the model itself.
IMPORTS = {
    "torch-eager": ("torch", "transformers"),
    "torch-int8": ("torch", "transformers"),
    "torchscript": ("torch",),
    "onnx": ("onnxruntime",),
    "edgebert": ("onnxruntime",),
}


def probe(spec: dict[str, Any], inputs_npz: Path, threads: int, calls: int) -> dict[str, Any]:
    import importlib

    from benchmarks.peers.runners import RunnerSpec, open_runner

    with np.load(inputs_npz, allow_pickle=False) as f:
        x = {k: f[k] for k in f.files}
    start = rss_bytes()
    for module in IMPORTS[spec["kind"]]:
        importlib.import_module(module)
    imported = rss_bytes()
    run = open_runner(RunnerSpec.from_dict(spec), threads)
    loaded = rss_bytes()
    for _ in range(calls):
        run(x)
    after = rss_bytes()
    return {
        "rss_start_bytes": start,
        "import_bytes": imported - start,
        "load_bytes": loaded - imported,
        "run_bytes": after - loaded,
        "rss_after_run_bytes": after,
        "peak_rss_bytes": peak_rss_bytes(),
        "calls": calls,
        "batch_shape": list(x["input_ids"].shape),
    }


def measure(spec: dict[str, Any], inputs_npz: Path, threads: int, calls: int, timeout_s: float = 600) -> dict[str, Any]:
    """Run the probe in a child process (same interpreter, repo on the path) and return what it printed."""
    root = Path(__file__).resolve().parents[2]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
    )
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.peers.memory_probe",
        json.dumps(spec),
        str(inputs_npz),
        str(threads),
        str(calls),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"memory probe exited with {done.returncode}: {tail[:300]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    spec_json, npz, n_threads, n_calls = sys.argv[1:5]
    print(json.dumps(probe(json.loads(spec_json), Path(npz), int(n_threads), int(n_calls))))
