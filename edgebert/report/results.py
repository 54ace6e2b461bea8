"""Read bench results documents (schema_version 1, see CONTRIBUTING.md) into a typed, validated `BenchResults`.

A report that silently shows "—" because a field was misspelt would lie by omission, and a gate fed a p50 of 0 or
an accuracy of -3 would pass anything, so a document that lacks a field `report` or `compare` relies on, or holds
a value out of its range, is refused with a one-line error naming the field. Parsing goes through the same
`config.from_dict` as targets and recipes; fields the reports only display when present (hostname, os...) pass
through untouched in each section's `extra`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebert import task_types
from edgebert._version import __version__
from edgebert.bench.inputs import Workload  # noqa: F401 - re-exported: report code and users import it from here
from edgebert.config import MAX_THREADS, bounded, extra_fields, from_dict, show
from edgebert.errors import ConfigError

SCHEMA_VERSION = 1
KIND = "bench-results"


class ResultsError(ConfigError):
    """A results file that is missing, not JSON, of another schema version, or lacks a field (exit code 2)."""


@dataclass(frozen=True)
class BundleInfo:
    label: str
    target: str
    format: str
    precision: str
    sha256: str
    stages: tuple[str, ...] | None = None
    task: str | None = None
    parameters: int | None = bounded(None, ge=0)
    extra: dict[str, Any] = extra_fields()


@dataclass(frozen=True)
class EnvironmentInfo:
    machine_id: str
    cpu_model: str
    cores: int = bounded(ge=1)
    threads: int = bounded(ge=1, le=MAX_THREADS)
    emulated: bool
    extra: dict[str, Any] = extra_fields()


@dataclass(frozen=True)
class BenchSettings:
    warmup: int = bounded(ge=0)
    iterations: int | None = bounded(ge=1)
    threads: int = bounded(ge=1, le=MAX_THREADS)
    real: bool
    extra: dict[str, Any] = extra_fields()


@dataclass(frozen=True)
class SizeInfo:
    model_bytes: int = bounded(ge=0)
    model_gzip_bytes: int | None = bounded(ge=0)
    extra: dict[str, Any] = extra_fields()


@dataclass(frozen=True)
class MemoryInfo:
    peak_rss_sampled_bytes: int | None = bounded(ge=0)
    extra: dict[str, Any] = extra_fields()


@dataclass(frozen=True)
class LatencyRow:
    """One timed workload. Every time is > 0: a zero or negative baseline would make any candidate look fast."""

    mode: str
    batch_size: int = bounded(ge=1)
    seq_len: int | None = bounded(ge=1)
    iterations: int = bounded(ge=1)
    p50_ms: float = bounded(gt=0)
    p90_ms: float = bounded(gt=0)
    p99_ms: float = bounded(gt=0)
    throughput_seq_s: float = bounded(gt=0)
    samples_ms: tuple[float, ...] = bounded(gt=0)
    extra: dict[str, Any] = extra_fields()

    def __post_init__(self) -> None:
        if self.mode != "real" and self.seq_len is None:
            raise ValueError(f"seq_len is null in a {self.mode!r} row")
        # The bench keeps every timed call; intervals and the reports' call counts rely on the two agreeing.
        if len(self.samples_ms) != self.iterations:
            raise ValueError(f"samples_ms holds {len(self.samples_ms)} calls but iterations says {self.iterations}")


@dataclass(frozen=True)
class AccuracyInfo:
    dataset: str
    dataset_sha256: str
    size: int = bounded(ge=1)
    accuracy: float | None = bounded(None, ge=0, le=1)  # required for sequence classification (see __post_init__)
    task_type: str | None = None  # absent in documents older than task types: sequence classification
    metric: str | None = None  # the task's primary metric; its value is also under its own name
    metric_value: float | None = bounded(None, ge=-1, le=1)
    agreement_with_reference: float | None = bounded(None, ge=0, le=1)
    macro_f1: float | None = bounded(None, ge=0, le=1)
    reference_accuracy: float | None = bounded(None, ge=0, le=1)
    extra: dict[str, Any] = extra_fields()

    def __post_init__(self) -> None:
        name = self.task_type or task_types.DEFAULT
        if name not in task_types.TASK_TYPES:
            raise ValueError(f"task_type {name[:40]!r} is unknown; use one of {', '.join(task_types.TASK_TYPES)}")
        tt = task_types.TASK_TYPES[name]
        if self.metric is not None and self.metric != tt.metric:
            raise ValueError(f"metric {self.metric[:40]!r} is not the primary metric of {name} ({tt.metric})")
        value = self.accuracy if tt.metric == "accuracy" else self.extra.get(tt.metric, self.metric_value)
        if value is None:
            raise ValueError(f"field {tt.metric} is missing; a {name} result needs its primary metric")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1 <= value <= 1:
            raise ValueError(f"field {tt.metric} must be a number from -1 to 1, got {str(value)[:40]}")
        if self.metric_value is not None and abs(self.metric_value - value) > 1e-12:
            raise ValueError(f"metric_value {self.metric_value} differs from {tt.metric} {value}")


@dataclass(frozen=True)
class BenchResults:
    """A whole results document. `accuracy` is required but null when the bench measured none."""

    schema_version: int
    kind: str
    bundle: BundleInfo
    environment: EnvironmentInfo
    settings: BenchSettings
    size: SizeInfo
    memory: MemoryInfo
    latency: tuple[LatencyRow, ...]
    accuracy: AccuracyInfo | None
    extra: dict[str, Any] = extra_fields()

    def __post_init__(self) -> None:
        if not self.latency:
            raise ValueError("field latency is missing or empty; time at least one workload")
        seen = set()
        for row in self.latency:
            w = workload_of(row)
            if w in seen:
                raise ValueError(f"latency holds two rows for {w.describe()}")
            seen.add(w)


@dataclass(frozen=True)
class Run:
    """One validated results document and the file it came from."""

    path: Path
    doc: dict[str, Any]  # the document as read: the reports display its pass-through fields
    results: BenchResults  # the same document, typed and range-checked

    @property
    def bundle(self) -> dict[str, Any]:
        return self.doc["bundle"]

    @property
    def env(self) -> dict[str, Any]:
        return self.doc["environment"]

    @property
    def settings(self) -> dict[str, Any]:
        return self.doc["settings"]

    @property
    def accuracy(self) -> dict[str, Any] | None:
        return self.doc.get("accuracy")

    @property
    def emulated(self) -> bool:
        return self.env["emulated"]

    @property
    def task(self) -> str | None:
        return self.bundle.get("task")

    @property
    def peak_rss_bytes(self) -> int | None:
        mem = self.doc["memory"]
        return (
            mem["peak_rss_sampled_bytes"] if mem["peak_rss_sampled_bytes"] is not None else mem.get("max_rss_os_bytes")
        )

    @property
    def workloads(self) -> list[Workload]:
        return sorted((workload_of(r) for r in self.doc["latency"]), key=Workload.sort_key)

    def row(self, workload: Workload) -> dict[str, Any] | None:
        for r in self.doc["latency"]:
            if workload_of(r) == workload:
                return r
        return None


def workload_of(row: dict[str, Any] | LatencyRow) -> Workload:
    if isinstance(row, LatencyRow):
        return Workload(row.mode, row.batch_size, None if row.mode == "real" else row.seq_len)
    return Workload(row["mode"], row["batch_size"], None if row["mode"] == "real" else row["seq_len"])


def parse_results(doc: Any, path: Path) -> BenchResults:
    """The typed form of `doc` if it is a valid schema-1 results document, else a one-line ResultsError."""
    if not isinstance(doc, dict):
        raise ResultsError(
            f"{path} holds a JSON {type(doc).__name__}, not a results object; pass a file written by `edgebert bench`"
        )
    if "schema_version" not in doc:
        raise ResultsError(f"{path}: field schema_version is missing; pass a results file written by `edgebert bench`")
    version = doc["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ResultsError(
            f"{path} has results schema_version {show(version, 20)}; this edgebert ({__version__}) "
            f"reads version {SCHEMA_VERSION}: re-run the bench or use a matching edgebert"
        )
    if doc.get("kind") != KIND:
        raise ResultsError(
            f"{path} is a {show(doc.get('kind'), 30)} document, not {KIND!r}; pass a file written by `edgebert bench`"
        )
    try:
        return from_dict(BenchResults, doc)
    except ConfigError as exc:
        raise ResultsError(f"{path}: {exc}; re-run `edgebert bench` to write a valid results file") from None


def validate(doc: Any, path: Path) -> dict[str, Any]:
    """Return `doc` if it is a valid schema-1 results document, else raise a one-line ResultsError."""
    parse_results(doc, path)
    return doc


def load_results(path: str | os.PathLike) -> Run:
    """Read and validate one results file; every failure is a one-line ResultsError."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"results file {path} does not exist; pass a file written by `edgebert bench --out`")
    if not path.is_file():
        raise ResultsError(f"{path} is not a file; pass a results JSON file written by `edgebert bench --out`")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = (
            f"line {exc.lineno} column {exc.colno}: {exc.msg}"
            if isinstance(exc, json.JSONDecodeError)
            else "not UTF-8 text"
            if isinstance(exc, UnicodeDecodeError)
            else "nested too deeply"
        )
        raise ResultsError(
            f"{path} is not JSON ({reason}); pass a results file written by `edgebert bench --out`"
        ) from None
    except OSError as exc:
        raise ResultsError(f"cannot read results file {path}: {exc.strerror or exc}") from None
    return Run(path, doc, parse_results(doc, path))


def same_task_and_dataset(runs: list[Run], how: str) -> None:
    """Refuse to set side by side runs of different tasks or evaluation datasets: their accuracies do not compare."""
    kinds = {task_types.of_quality(r.accuracy).name for r in runs if r.accuracy is not None}
    if len(kinds) > 1:
        raise ResultsError(f"the results are of different task types ({', '.join(sorted(kinds))}); {how} runs of one")
    tasks = {r.task for r in runs if r.task is not None}
    if len(tasks) > 1:
        raise ResultsError(f"the results are of different tasks ({', '.join(sorted(tasks))}); {how} runs of one task")
    datasets = {(r.accuracy["dataset"], r.accuracy["dataset_sha256"]) for r in runs if r.accuracy is not None}
    if len({sha for _, sha in datasets}) > 1:
        names = ", ".join(f"{name} sha256 {sha[:12]}" for name, sha in sorted(datasets))
        raise ResultsError(f"the results were measured on different datasets ({names}); {how} runs on one dataset")


def check_output_file(out: str | os.PathLike) -> Path:
    """Refuse an output path that cannot be written (bundle.check_output_file: one rule for every --out)."""
    from edgebert.bundle import check_output_file as check

    return check(out)


def write_text_atomic(out: str | os.PathLike, text: str) -> Path:
    """Write `text` to `out` through a temp file and a rename (bundle.write_text_atomic: parents created, umask)."""
    from edgebert.bundle import write_text_atomic as write

    return write(out, text)
