"""What bench checks before anything is loaded or timed: the bundle (kind, fields, sha256s) and every argument.

The order matters: a mistake fails in a second, not after minutes of timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebert import bundle as bundles
from edgebert import cpu, task_types
from edgebert.bench import environment, latency, scoring
from edgebert.bundle import read_manifest, verify_files
from edgebert.errors import BundleError, UserError
from edgebert.manifest import parse_bundle_manifest
from edgebert.runtime import UNTRUSTED_TORCHSCRIPT, check_threads

DEFAULT_BATCH_SIZES = (1, 8)
# edgebert run exports each trial's untrained shape only to time it (search_trial.py); its parity miss is recorded
TIMING_ONLY = (
    "{bundle_dir} was exported for timing only (an untrained shape from edgebert run) and failed parity: its "
    "outputs are not its source model's; its latency is valid, its accuracy is not the candidate's"
)


DEFAULT_SEQ_LEN = 32  # with the bundle's max length: a short and a full-length figure


def _positive_ints(values: Sequence[int], what: str) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise UserError(f"{what} must be integers >= 1, got {v!r}")
        if int(v) not in out:
            out.append(int(v))
    if not out:
        raise UserError(f"give at least one {what.rstrip('s')}")
    return tuple(out)


def timing_only_miss(manifest: dict[str, Any]) -> bool:
    """Whether the bundle was exported for timing only and missed parity (its outputs are not its source's)."""
    return bool(manifest.get("timing_only")) and not (manifest.get("parity") or {}).get("passed")


def check_bundle(bundle_dir: Path, warnings: list[str] | None = None) -> dict[str, Any]:
    """The bundle's manifest, after its kind, fields, paths and every file's sha256 were checked (bundle.py's closed
    world); files nobody listed are added to `warnings`."""
    manifest = read_manifest(bundle_dir)
    if manifest.get("kind") != "bundle":
        raise BundleError(
            f"{bundle_dir} is a {manifest.get('kind', 'unknown')!r} directory, not a bundle; "
            f"export it first: edgebert export --model {bundle_dir} --target TARGET"
        )
    parse_bundle_manifest(manifest, bundle_dir)  # every field bench and the runtime read, typed and in range
    _check_shape(bundle_dir, manifest)
    extra = verify_files(bundle_dir, manifest)
    if timing_only_miss(manifest):
        extra.append(TIMING_ONLY.format(bundle_dir=bundle_dir))
    if warnings is not None:
        warnings.extend(extra)
    return manifest


def _check_shape(bundle_dir: Path, manifest: dict[str, Any]) -> None:
    """The manifest fields the runtime reads have the types it needs: a hand-edited manifest is one line, not a KeyError."""
    from edgebert.architectures import ARCHITECTURES
    from edgebert.runtime import GRAPH_LEVELS

    def bad(field: str, want: str) -> BundleError:
        return BundleError(f"{bundle_dir}/manifest.json: {field} must be {want}; re-export the bundle")

    known = {name for arch in ARCHITECTURES.values() for name in arch.input_names}
    if not isinstance(manifest["inputs"], list) or not manifest["inputs"] or not set(manifest["inputs"]) <= known:
        raise bad("inputs", f"a list of input names from {', '.join(sorted(known))}")
    if (
        not isinstance(manifest["outputs"], list)
        or not manifest["outputs"]
        or not all(isinstance(o, str) for o in manifest["outputs"])
    ):
        raise bad("outputs", "a non-empty list of output names")
    target = manifest["target"]
    runtime = target.get("runtime") if isinstance(target, dict) else None
    if not isinstance(runtime, dict):
        raise bad("target.runtime", "a table of runtime settings")
    if runtime.get("graph_optimization", "all") not in GRAPH_LEVELS:
        raise bad("target.runtime.graph_optimization", f"one of {', '.join(GRAPH_LEVELS)}")
    providers = runtime.get("execution_providers", ["CPUExecutionProvider"])
    if not isinstance(providers, list) or not all(isinstance(x, str) for x in providers):
        raise bad("target.runtime.execution_providers", "a list of provider names")
    source = manifest["source"]
    labelled = manifest.get("task_type", task_types.DEFAULT) != task_types.SENTENCE_EMBEDDING
    if not isinstance(source, dict) or (
        labelled and (not isinstance(source.get("id2label"), dict) or not source["id2label"])
    ):
        raise bad("source.id2label", "a table of label ids to names")


def _check_out(out: Path | None, bundle_dir: Path, dataset: str | Path | None) -> None:
    """--out is a file, not inside the bundle (a bundle holds only what export wrote), not the dataset."""
    if out is None:
        return
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file path such as {out / 'bench.json'}")
    bundles.check_output_file(out, inputs=[dataset], inside=[bundle_dir])


@dataclass(frozen=True)
class Plan:
    """A checked bench request: everything bench_bundle needs, validated before anything is loaded or timed."""

    bundle_dir: Path
    manifest: dict[str, Any]
    evaluation: Any  # accuracy.Evaluation, or the task's own (bench/scoring.py)
    batch_sizes: tuple[int, ...]
    seq_lens: tuple[int, ...]
    real: bool
    warmup: int
    iterations: int | None
    min_time_s: float | None
    threads: int | None
    sort_by_length: bool
    dataset: str | Path | None
    out: Path | None
    warnings: tuple[str, ...]
    trust_torchscript: bool = False  # plan() refused an untrusted TorchScript bundle; load() passes the consent on

    @property
    def configs(self) -> list[tuple[str, int, int | None]]:
        """(mode, batch size, sequence length — None for real) in the order they are timed."""
        synthetic = [("synthetic", bs, n) for bs in self.batch_sizes for n in self.seq_lens]
        return synthetic + [("real", bs, None) for bs in self.batch_sizes if self.real]


def plan(
    bundle: str | Path,
    batch_sizes: Sequence[int],
    seq_lens: Sequence[int] | None,
    real: bool,
    sort_by_length: bool,
    warmup: int,
    iterations: int | None,
    min_time_s: float | None,
    threads: int | None,
    dataset: str | Path | None,
    text_column: str,
    label_column: str,
    out: str | Path | None,
    trust_torchscript: bool = False,
) -> Plan:
    """Check the bundle (sha256s included) and every argument; raise a one-line EdgebertError on the first problem."""
    bundle_dir = Path(bundle)
    warnings: list[str] = []
    manifest = check_bundle(bundle_dir, warnings)
    if manifest["format"] == "torchscript" and not trust_torchscript:
        raise UserError(UNTRUSTED_TORCHSCRIPT.format(bundle=bundle_dir))
    latency.check_counts(warmup, iterations, min_time_s)
    if iterations is not None and min_time_s is not None:
        raise UserError("pass either iterations or min_time, not both")
    batch_sizes = _positive_ints(batch_sizes, "batch sizes")
    max_len = int(manifest["tokenizer"]["max_length"])
    # No synthetic lengths at all is allowed when real lengths are timed (edgebert run's runoff times only those).
    seq_lens = (
        ()
        if real and seq_lens is not None and len(seq_lens) == 0
        else _positive_ints(
            sorted({min(DEFAULT_SEQ_LEN, max_len), max_len}) if seq_lens is None else seq_lens, "sequence lengths"
        )
    )
    too_long = [n for n in seq_lens if n > max_len]
    if too_long:
        raise UserError(
            f"sequence length {too_long[0]} exceeds the bundle's max length {max_len}; use --seq-lens up to {max_len}"
        )
    wanted = check_threads(
        threads if threads is not None else (manifest["target"].get("runtime") or {}).get("intra_op_threads", 0)
    )
    if wanted > cpu.usable_cores():
        source = (
            ""
            if threads is not None
            else f" (the {manifest['target'].get('name')} target's setting; override with --threads)"
        )
        warnings.append(
            f"{wanted} threads on {cpu.usable_cores()} usable cores{source}: threads compete for cores, latency suffers"
        )
    out_path = Path(out) if out is not None else None
    _check_out(out_path, bundle_dir, dataset)
    evaluation = scoring.scorer_for(manifest, bundle_dir).load(bundle_dir, manifest, dataset, text_column, label_column)
    warnings += environment.target_warnings(manifest)
    if environment.looks_emulated():
        warnings.append("running under emulation: latency figures are meaningless here; accuracy and memory are valid")
    return Plan(
        bundle_dir,
        manifest,
        evaluation,
        batch_sizes,
        seq_lens,
        bool(real),
        warmup,
        iterations,
        min_time_s,
        threads,
        sort_by_length,
        dataset,
        out_path,
        tuple(warnings),
        trust_torchscript,
    )
