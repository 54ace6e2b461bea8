"""Bench results documents (schema_version 1, CONTRIBUTING.md) built here, and the helpers the report, compare and
HTML tests share (golden files, the CLI runner, GitHub table parsing): tests import helpers from here, never from
each other.

Values follow what this machine measured for all-MiniLM-L6-v2 (shared/field-notes.md): fp32 ORT ~17 ms at batch 1,
seq 128, per-channel int8 ~2.2x faster, a head/FFN-pruned fp32 ~1.8x faster. Latency rows go through the bench's own
`summarize`, so percentiles and samples agree exactly as in a real document. Everything is seeded: same document
every time, which the golden-file tests rely on.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import re
from pathlib import Path

from click.testing import CliRunner

from edgebert.bench.latency import summarize
from edgebert.cli import cli

CPU = "AMD EPYC 9R14 96-Core Processor"
MACHINE_ID = hashlib.sha256(f"{CPU}|2|x86_64".encode()).hexdigest()
DATASET_SHA = hashlib.sha256(b"rotten-tomatoes:test").hexdigest()

# variant: (label suffix, precision, stages, parameters, model MB, gzip MB, peak RSS MB, accuracy, agreement,
#           p50 ms at {seq 128, seq 32, real lengths})
VARIANTS = {
    "fp32": ("fp32", "fp32", [], 22_713_216, 90.4, 83.5, 221.0, 0.8258, 1.0, (17.0, 6.1, 5.2)),
    "int8": ("int8", "int8", [], 22_713_216, 23.0, 19.4, 136.0, 0.8196, 0.9812, (7.7, 3.0, 2.6)),
    "pruned": (
        "fp32 pruned",
        "fp32",
        ["prune_heads", "prune_ffn"],
        17_388_672,
        69.8,
        64.6,
        188.0,
        0.8039,
        0.9529,
        (9.3, 3.6, 3.0),
    ),
}


def latency_row(
    mode: str, batch: int, seq: int | None, p50_ms: float, seed: int, iterations: int = 100, mean_tokens: float = 27.1
) -> dict:
    """A row the way the bench writes it: seeded log-normal call times around p50 with a few slow outliers."""
    rng = random.Random(seed)
    ns = [int(p50_ms * 1e6 * rng.lognormvariate(0, 0.06)) for _ in range(iterations)]
    for i in rng.sample(range(iterations), 3):
        ns[i] = int(ns[i] * rng.uniform(1.4, 2.2))
    tokens = batch * (seq if seq is not None else mean_tokens)
    row = {"mode": mode, "batch_size": batch, "seq_len": seq}
    if mode == "real":
        row["mean_tokens"] = mean_tokens
    row.update(summarize(ns, batch, tokens))
    return row


def make_results(
    variant: str = "fp32",
    *,
    scale: float = 1.0,
    seed: int = 0,
    label: str | None = None,
    target: str = "x86-avx512-vnni",
    emulated: bool = False,
) -> dict:
    """One complete results document; `scale` multiplies every call time (a planted regression)."""
    suffix, precision, stages, params, mb, gz, rss, acc, agree, (p128, p32, preal) = VARIANTS[variant]
    bundle_label = label or f"{target} onnx {suffix}"
    digest = hashlib.sha256(f"{variant}|{target}".encode()).hexdigest()
    base_seed = 1000 * seed + 10 * list(VARIANTS).index(variant)
    return {
        "schema_version": 1,
        "kind": "bench-results",
        "edgebert_version": "0.1.0",
        "created_at": f"2026-11-29T10:{10 + list(VARIANTS).index(variant):02d}:00+00:00",
        "bundle": {
            "path": f"bundles/{target}-onnx-{variant}",
            "sha256": digest,
            "label": bundle_label,
            "target": target,
            "format": "onnx",
            "precision": precision,
            "model_type": "bert",
            "parameters": params,
            "num_layers": 6,
            "stages": list(stages),
            "task": "rotten-tomatoes",
        },
        "environment": {
            "machine_id": MACHINE_ID,
            "hostname": "bench-host",
            "cpu_model": CPU,
            "arch": "x86_64",
            "cpu_features": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"],
            "cores": 2,
            "threads": 2,
            "os": "Linux-6.1.0-x86_64-with-glibc2.36",
            "python": "3.11.2",
            "onnxruntime": "1.32.0",
            "execution_provider": "CPUExecutionProvider",
            "edgebert_version": "0.1.0",
            "cpu_load_before": 0.12,
            "cpu_load_during": 0.31,
            "emulated": emulated,
            "warnings": [],
        },
        "settings": {
            "warmup": 10,
            "iterations": 100,
            "min_time_s": None,
            "batch_sizes": [1],
            "seq_lens": [32, 128],
            "real": True,
            "sort_by_length": True,
            "threads": 2,
        },
        "size": {
            "model_bytes": int(mb * 1e6) + 4321,
            "model_gzip_bytes": int(gz * 1e6) + 1234,
            "bundle_bytes": int(mb * 1e6) + 712_000,
        },
        "memory": {
            "rss_before_load_bytes": 61_000_000,
            "rss_after_load_bytes": int(rss * 1e6) - 20_000_000,
            "model_load_bytes": int(rss * 1e6) - 81_000_000,
            "peak_rss_sampled_bytes": int(rss * 1e6),
            "max_rss_os_bytes": int(rss * 1e6) + 3_000_000,
            "arena": {"cpu_mem_arena": True, "mem_pattern": True},
            "device_bytes": None,
        },
        "latency": [
            latency_row("synthetic", 1, 32, p32 * scale, base_seed + 1),
            latency_row("synthetic", 1, 128, p128 * scale, base_seed + 2),
            latency_row("real", 1, None, preal * scale, base_seed + 3, iterations=1275),  # one pass over the texts
        ],
        "harness": {"overhead_ms_per_call": 0.0004, "overhead_fraction_of_fastest": 0.0004 / (p32 * scale)},
        "accuracy": {
            "dataset": "rotten-tomatoes:test",
            "dataset_sha256": DATASET_SHA,
            "size": 1275,
            "accuracy": acc,
            "macro_f1": acc - 0.004,
            "agreement_with_reference": agree,
        },
    }


def write_results(directory: Path, name: str, doc: dict) -> Path:
    path = Path(directory) / name
    path.write_text(json.dumps(doc, indent=2))
    return path


def three_runs(directory: Path) -> list[Path]:
    """fp32, int8 and pruned results of one model on one machine: the report's main case."""
    return [write_results(directory, f"{v}.json", make_results(v)) for v in ("fp32", "int8", "pruned")]


def deep_copy(doc: dict) -> dict:
    return copy.deepcopy(doc)


GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("EDGEBERT_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; create it with EDGEBERT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}; if intended, regenerate it"


def run(*args: str):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def gfm_tables(markdown: str) -> list[list[list[str]]]:
    """Tables as GitHub parses them: a header row, a delimiter row, then rows with the same cell count."""
    tables, block = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables.append(block)
            block = []
    parsed = []
    for t in tables:
        cells = [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in t]
        assert re.fullmatch(r"\|( :?-{3,}:? \|)+", t[1]), f"bad delimiter row: {t[1]}"
        assert all(len(r) == len(cells[0]) for r in cells), f"ragged table: {t}"
        parsed.append([cells[0]] + cells[2:])
    return parsed
