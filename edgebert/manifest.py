"""The typed form of a bundle's manifest.json: the fields bench and the runtime read, type- and range-checked by
the same `config.from_dict` as targets, recipes and results (every other field passes through in `extra`).

`bundle.read_manifest` reads the JSON and checks its schema version; `parse_bundle_manifest` then refuses a manifest
whose fields the runtime would trip over (a string thread count, no outputs, an unknown format) with one line, before
anything is loaded. Which files a manifest may name, and their digests, are `bundle.py`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebert.config import MAX_THREADS, bounded, choices, extra_fields, from_dict
from edgebert.errors import BundleError, ConfigError
from edgebert.task_types import DEFAULT as DEFAULT_TASK, TASK_TYPES


@dataclass(frozen=True)
class TokenizerInfo:
    file: str
    max_length: int = bounded(ge=1, le=1_000_000)
    pad_id: int | None = bounded(None, ge=0)
    pad_token: str | None = None
    lowercase: bool = False
    extra: dict[str, Any] = extra_fields()


@dataclass(frozen=True)
class SourceInfo:
    model_type: str
    id2label: dict[str, str] | None = None  # the labels of a classifier (a sentence-embedding model has none)
    num_labels: int | None = bounded(None, ge=1)
    extra: dict[str, Any] = extra_fields()

    def __post_init__(self) -> None:
        if self.id2label is not None and not self.id2label:
            raise ValueError("id2label is empty")


@dataclass(frozen=True)
class RuntimeInfo:
    execution_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    intra_op_threads: int = bounded(0, ge=0, le=MAX_THREADS)
    extra: dict[str, Any] = extra_fields()


@dataclass(frozen=True)
class TargetInfo:
    """The target the bundle was exported for, as recorded (name, settings); checked as far as bench reads it."""

    name: str
    runtime: RuntimeInfo = RuntimeInfo()
    extra: dict[str, Any] = extra_fields()


@dataclass(frozen=True)
class BundleManifest:
    schema_version: int
    kind: str = choices("bundle")
    format: str = choices("onnx", "torchscript")
    model_file: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    tokenizer: TokenizerInfo
    source: SourceInfo
    target: TargetInfo
    files: dict[str, str]
    precision: str | None = None
    task_type: str = choices(*TASK_TYPES, default=DEFAULT_TASK)  # manifests older than task types: classifiers
    extra: dict[str, Any] = extra_fields()

    def __post_init__(self) -> None:
        if not self.inputs or not self.outputs:
            raise ValueError("inputs and outputs must each name at least one tensor")
        if self.task_type == DEFAULT_TASK and not self.source.id2label:
            raise ValueError("source.id2label is missing; a sequence classifier's bundle names its labels")


def parse_bundle_manifest(manifest: Any, bundle_dir: Path | str) -> BundleManifest:
    """The typed manifest of the bundle in `bundle_dir`, or a one-line BundleError naming the bad field."""
    where = Path(bundle_dir) / "manifest.json"
    if not isinstance(manifest, dict):
        raise BundleError(f"{where} is not a JSON object; re-export the bundle")
    try:
        return from_dict(BundleManifest, manifest)
    except ConfigError as exc:
        raise BundleError(f"{where}: {exc}; re-export the bundle") from None
