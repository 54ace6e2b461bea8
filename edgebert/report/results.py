"""Read bench results documents (schema_version 1, see CONTRIBUTING.md) and check every field the reports use.

A report that silently shows "—" because a field was misspelt would lie by omission, so a document that lacks a
field `report` or `compare` relies on is refused with a one-line error naming the field. Fields the reports only
display when present (hostname, os, macro_f1...) are read with `.get`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from edgebert import __version__
from edgebert.errors import UserError

SCHEMA_VERSION = 1
KIND = "bench-results"


class ResultsError(UserError):
    """A results file that is missing, not JSON, of another schema version, or lacks a field."""


# Field specs: name → expected kind. "?" at the end of a kind means the value may be null.
_SECTIONS: dict[str, dict[str, str]] = {
    "bundle": {"label": "str", "target": "str", "format": "str", "precision": "str", "sha256": "str"},
    "environment": {"machine_id": "str", "cpu_model": "str", "cores": "int", "threads": "int", "emulated": "bool"},
    "settings": {"warmup": "int", "iterations": "int?", "threads": "int", "real": "bool"},
    "size": {"model_bytes": "int", "model_gzip_bytes": "int?"},
    "memory": {"peak_rss_sampled_bytes": "int?"},
}
_LATENCY_ROW = {"mode": "str", "batch_size": "int", "seq_len": "int?", "iterations": "int", "p50_ms": "num",
                "p90_ms": "num", "p99_ms": "num", "throughput_seq_s": "num", "samples_ms": "list"}
_ACCURACY = {"dataset": "str", "dataset_sha256": "str", "size": "int", "accuracy": "num",
             "agreement_with_reference": "num?"}
_OPTIONAL = {"stages": "list", "task": "str?", "parameters": "int?"}  # bundle fields checked only when present


def _fits(value: Any, kind: str) -> bool:
    if value is None:
        return kind.endswith("?")
    kind = kind.rstrip("?")
    if kind == "num":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    py = {"str": str, "int": int, "bool": bool, "list": list, "dict": dict}[kind]
    return isinstance(value, py) and not (py is int and isinstance(value, bool))


_KIND_WORDS = {"str": "a string", "int": "an integer", "num": "a finite number", "bool": "true or false",
               "list": "a list", "dict": "an object"}


def _check(section: Any, spec: dict[str, str], where: str, path: Path, required: bool = True) -> None:
    if not isinstance(section, dict):
        raise ResultsError(f"{path}: {where} must be an object; re-run `edgebert bench` to write a complete results file")
    for name, kind in spec.items():
        if name not in section:
            if not required:
                continue
            raise ResultsError(f"{path}: field {where}.{name} is missing; re-run `edgebert bench` to write a complete results file")
        if not _fits(section[name], kind):
            what = _KIND_WORDS[kind.rstrip("?")] + (" or null" if kind.endswith("?") else "")
            raise ResultsError(f"{path}: field {where}.{name} must be {what}, got {json.dumps(section[name])[:40]}")


class Workload(NamedTuple):
    """One timed configuration: what a latency row was measured on."""

    mode: str  # "synthetic" (every sequence seq_len tokens) or "real" (the dataset's own texts)
    batch_size: int
    seq_len: int | None

    def describe(self) -> str:
        if self.mode == "real":
            return f"real lengths, batch {self.batch_size}"
        return f"{self.mode}, batch {self.batch_size}, seq {self.seq_len}"

    def sort_key(self) -> tuple:
        # Real lengths first (closest to use), then batch 1, then the longest synthetic sequence.
        return (self.mode != "real", self.batch_size, -(self.seq_len or 0), self.mode)

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(frozen=True)
class Run:
    """One validated results document and the file it came from."""

    path: Path
    doc: dict[str, Any]

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
        return mem["peak_rss_sampled_bytes"] if mem["peak_rss_sampled_bytes"] is not None else mem.get("max_rss_os_bytes")

    @property
    def workloads(self) -> list[Workload]:
        return sorted((workload_of(r) for r in self.doc["latency"]), key=Workload.sort_key)

    def row(self, workload: Workload) -> dict[str, Any] | None:
        for r in self.doc["latency"]:
            if workload_of(r) == workload:
                return r
        return None


def workload_of(row: dict[str, Any]) -> Workload:
    return Workload(row["mode"], row["batch_size"], None if row["mode"] == "real" else row["seq_len"])


def validate(doc: Any, path: Path) -> dict[str, Any]:
    """Return `doc` if it is a complete schema-1 results document, else raise a one-line ResultsError."""
    if not isinstance(doc, dict):
        raise ResultsError(f"{path} holds a JSON {type(doc).__name__}, not a results object; pass a file written by `edgebert bench`")
    version = doc.get("schema_version")
    if "schema_version" not in doc:
        raise ResultsError(f"{path}: field schema_version is missing; pass a results file written by `edgebert bench`")
    if version != SCHEMA_VERSION:
        raise ResultsError(f"{path} has results schema_version {json.dumps(version)[:20]}; this edgebert ({__version__}) "
                           f"reads version {SCHEMA_VERSION}: re-run the bench or use a matching edgebert")
    if doc.get("kind") != KIND:
        raise ResultsError(f"{path} is a {json.dumps(doc.get('kind'))[:30]} document, not {KIND!r}; pass a file written by `edgebert bench`")
    for section, spec in _SECTIONS.items():
        if section not in doc:
            raise ResultsError(f"{path}: field {section} is missing; re-run `edgebert bench` to write a complete results file")
        _check(doc[section], spec, section, path)
    _check(doc["bundle"], _OPTIONAL, "bundle", path, required=False)
    rows = doc.get("latency")
    if not isinstance(rows, list) or not rows:
        raise ResultsError(f"{path}: field latency is missing or empty; re-run `edgebert bench` to time at least one workload")
    seen = set()
    for i, row in enumerate(rows):
        _check(row, _LATENCY_ROW, f"latency[{i}]", path)
        if not all(_fits(v, "num") for v in row["samples_ms"]):
            raise ResultsError(f"{path}: field latency[{i}].samples_ms must hold only finite numbers")
        if row["mode"] != "real" and row["seq_len"] is None:
            raise ResultsError(f"{path}: field latency[{i}].seq_len is null in a {row['mode']!r} row; re-run the bench")
        w = workload_of(row)
        if w in seen:
            raise ResultsError(f"{path}: latency holds two rows for {w.describe()}; re-run the bench")
        seen.add(w)
    if "accuracy" not in doc:
        raise ResultsError(f"{path}: field accuracy is missing (null when not measured); re-run `edgebert bench`")
    if doc["accuracy"] is not None:
        _check(doc["accuracy"], _ACCURACY, "accuracy", path)
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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = f"line {exc.lineno} column {exc.colno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise ResultsError(f"{path} is not JSON ({reason}); pass a results file written by `edgebert bench --out`") from None
    return Run(path, validate(doc, path))


def same_task_and_dataset(runs: list[Run], how: str) -> None:
    """Refuse to set side by side runs of different tasks or evaluation datasets: their accuracies do not compare."""
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
