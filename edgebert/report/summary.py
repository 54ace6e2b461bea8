"""What every report format shows: the runs side by side at one headline workload, with deltas against a baseline.

Markdown, HTML and JSON render the same `Summary`, so the three can never disagree about a figure. Nothing here
measures anything: every number is read from the results documents or derived from two of them (a ratio, a
difference), and the derivation is written down in `measurement_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgebert import task_types
from edgebert.report.results import Run, Workload, same_task_and_dataset


@dataclass(frozen=True)
class Entry:
    """One run as the report shows it."""

    name: str
    run: Run
    headline: dict[str, Any] | None  # the latency row at the summary's headline workload
    is_baseline: bool
    speedup: float | None  # baseline p50 / this p50 at the headline workload (> 1: faster)
    size_ratio: float | None  # baseline model bytes / these model bytes (> 1: smaller)
    accuracy_delta: float | None  # this accuracy - baseline accuracy, in percentage points

    @property
    def accuracy(self) -> float | None:
        """The task's primary metric (accuracy for a classifier, Spearman on Lee for an embedding model, ...)."""
        return task_types.primary_value(self.run.accuracy)

    @property
    def agreement(self) -> float | None:
        return self.run.accuracy.get("agreement_with_reference") if self.run.accuracy else None


@dataclass(frozen=True)
class Summary:
    entries: list[Entry]
    baseline: Entry | None
    headline: Workload | None
    workloads: list[Workload]  # every workload timed in any run, in display order
    notes: list[str]  # warnings a reader must see before trusting a figure
    command: str | None = None  # the command that regenerates this report, shown at its top when given

    def speedup(self, entry: Entry, workload: Workload) -> float | None:
        return speedup(self.baseline.run if self.baseline else None, entry.run, workload)


def speedup(base: Run | None, run: Run, workload: Workload | None) -> float | None:
    """baseline p50 / run p50 at `workload`; None without a baseline, when either lacks the workload, or when
    either run was emulated (an emulated time says nothing about the device)."""
    if base is None or workload is None or run.emulated or base.emulated:
        return None
    base_row, row = base.row(workload), run.row(workload)
    if base_row is None or row is None or row["p50_ms"] <= 0:
        return None
    return base_row["p50_ms"] / row["p50_ms"]


def display_names(runs: list[Run]) -> list[str]:
    """Bundle labels, made unique: two fp32 bundles of one target differ by their compression stages or file."""
    labels = [r.bundle["label"] for r in runs]
    names = [
        f"{label} ({' + '.join(r.bundle.get('stages') or []) or 'uncompressed'})" if labels.count(label) > 1 else label
        for label, r in zip(labels, runs)
    ]
    return [f"{name} [{r.path.name}]" if names.count(name) > 1 else name for name, r in zip(names, runs)]


def build_summary(runs: list[Run], baseline: int | None = 0) -> Summary:
    """Set `runs` side by side; `baseline` indexes the run the deltas are measured against (None: no deltas)."""
    same_task_and_dataset(runs, "report")
    workloads = sorted({w for r in runs for w in r.workloads}, key=Workload.sort_key)
    common = [w for w in workloads if all(r.row(w) is not None for r in runs)]
    headline = common[0] if common else None
    base = runs[baseline] if baseline is not None else None
    entries = []
    for i, (name, run) in enumerate(zip(display_names(runs), runs)):
        row = run.row(headline) if headline else None
        size_ratio = acc_delta = None
        if base is not None:
            if run.doc["size"]["model_bytes"] > 0:
                size_ratio = base.doc["size"]["model_bytes"] / run.doc["size"]["model_bytes"]
            if run.accuracy and base.accuracy:
                acc_delta = (task_types.primary_value(run.accuracy) - task_types.primary_value(base.accuracy)) * 100
        entries.append(Entry(name, run, row, i == baseline, speedup(base, run, headline), size_ratio, acc_delta))
    summary = Summary(entries, entries[baseline] if baseline is not None else None, headline, workloads, [])
    summary.notes.extend(_notes(summary))
    return summary


def _notes(s: Summary) -> list[str]:
    notes = []
    for e in s.entries:
        if e.run.emulated:
            notes.append(
                f"{e.name} ran under emulation (environment.emulated): its latency and throughput are "
                "meaningless and no speed-up is computed for it; only its accuracy and sizes count."
            )
    machines = {e.run.env["machine_id"] for e in s.entries}
    if len(machines) > 1 and s.baseline is not None:
        notes.append(
            f"The runs come from {len(machines)} different machines: a speed-up between two of them "
            "compares the machines as much as the bundles."
        )
    threads = sorted({e.run.settings["threads"] for e in s.entries})
    if len(threads) > 1 and s.baseline is not None:
        notes.append(
            f"The runs used different thread counts ({', '.join(map(str, threads))}): a speed-up between "
            "them measures the threads as much as the bundles."
        )
    if s.headline is None:
        notes.append("No workload was timed in every run, so the summary shows no latency; see Latency by workload.")
    said: dict[str, list[str]] = {}  # one note per warning text, naming the runs it concerns
    for e in s.entries:
        for w in e.run.env.get("warnings") or []:
            said.setdefault(w, []).append(e.name)
    for w, names in said.items():
        who = "All runs" if len(names) == len(s.entries) > 1 else ", ".join(names)
        notes.append(f"{who}: {w}")
    return notes


def to_json(s: Summary) -> dict[str, Any]:
    """The summary as plain data (what `report --format json` prints); every figure as read or derived, unrounded."""

    def run_dict(e: Entry) -> dict[str, Any]:
        b, h = e.run.bundle, e.headline
        return {
            "name": e.name,
            "results_file": e.run.path.name,
            "bundle": {
                k: b.get(k)
                for k in ("label", "target", "format", "precision", "stages", "parameters", "sha256", "path")
            },
            "emulated": e.run.emulated,
            "machine_id": e.run.env["machine_id"],
            "created_at": e.run.doc.get("created_at"),
            "model_bytes": e.run.doc["size"]["model_bytes"],
            "model_gzip_bytes": e.run.doc["size"]["model_gzip_bytes"],
            "peak_rss_bytes": e.run.peak_rss_bytes,
            "accuracy": e.accuracy,
            "agreement_with_reference": e.agreement,
            "headline": None if h is None else {k: h[k] for k in ("p50_ms", "p90_ms", "p99_ms", "throughput_seq_s")},
            "vs_baseline": None
            if s.baseline is None
            else {"speedup": e.speedup, "size_ratio": e.size_ratio, "accuracy_delta_points": e.accuracy_delta},
        }

    first_acc = next((e.run.accuracy for e in s.entries if e.run.accuracy), None)
    return {
        "schema_version": 1,
        "kind": "report",
        "task": next((e.run.task for e in s.entries if e.run.task), None),
        "dataset": first_acc["dataset"] if first_acc else None,
        "baseline": s.baseline.name if s.baseline else None,
        "headline_workload": s.headline.to_dict() if s.headline else None,
        "runs": [run_dict(e) for e in s.entries],
        "latency": [
            {
                "workload": w.to_dict(),
                "rows": [
                    {
                        "name": e.name,
                        **{
                            k: e.run.row(w).get(k)
                            for k in (
                                "p50_ms",
                                "p90_ms",
                                "p99_ms",
                                "throughput_seq_s",
                                "throughput_tok_s",
                                "cv",
                                "mean_tokens",
                            )
                        },
                        "speedup": s.speedup(e, w),
                    }
                    for e in s.entries
                    if e.run.row(w) is not None
                ],
            }
            for w in s.workloads
        ],
        "notes": s.notes,
        **({"command": s.command} if s.command else {}),
    }
