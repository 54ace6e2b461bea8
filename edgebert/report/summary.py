"""What every report format shows: the runs side by side at one headline workload, with deltas against a baseline.

Markdown, HTML and JSON render the same `Summary`, so the three can never disagree about a figure. Nothing here
measures anything: every number is read from the results documents or derived from two of them (a ratio, a
difference), and the derivation is written down in `measurement_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgebert import task_types
from edgebert.report import units
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


def intro(s: Summary) -> str:
    """One sentence: how many bundles, which task and dataset, which workload the summary shows, the baseline."""
    parts = [f"{len(s.entries)} bundle{'s' if len(s.entries) != 1 else ''}"]
    task = next((e.run.task for e in s.entries if e.run.task), None)
    acc = next((e.run.accuracy for e in s.entries if e.run.accuracy), None)
    if task:
        parts.append(f"task {task}")
    if acc:
        parts.append(f"evaluated on {acc['dataset']} ({acc['size']} texts)")
    if s.headline:
        parts.append(f"latency at {s.headline.describe()}")
    if s.baseline is not None:
        parts.append(f"baseline {s.baseline.name}")
    return " · ".join(parts) + "."


def task_of(s: Summary) -> task_types.TaskType:
    """The task of the runs set side by side (same_task_and_dataset refused a mixture)."""
    return task_types.of_quality(next((e.run.accuracy for e in s.entries if e.run.accuracy), None))


def delta_label(tt: task_types.TaskType) -> str:
    return "Δ accuracy" if tt.metric == "accuracy" else f"Δ {tt.metric_label}"


def _interval(section: dict, key: str, fmt) -> str:
    value, ci = section.get(key), section.get(f"{key}_ci95")
    if value is None:
        return units.DASH
    return fmt(value) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if isinstance(ci, list) and len(ci) == 2 else "")


def quality_table(s: Summary) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows) of every quality figure a sentence-embedding bench measured, with its 95% interval; None for
    the other tasks, whose summary table already holds their figures."""
    if task_of(s).name != task_types.SENTENCE_EMBEDDING:
        return None
    header = ["Bundle", "Spearman (Lee) [95%]", "Source Spearman", "Probe accuracy [95%]", "Source probe"]
    header += ["NN top-1 as source", "NN top-10 overlap"]
    rows = []
    for e in s.entries:
        q = e.run.accuracy or {}
        rows.append(
            [
                e.name,
                _interval(q, "spearman", lambda v: f"{v:.3f}"),
                f"{q['source_spearman']:.3f}" if q.get("source_spearman") is not None else units.DASH,
                _interval(q, "probe_accuracy", units.percent),
                units.percent(q.get("source_probe_accuracy")),
                units.percent(q.get("nn_top1_agreement")),
                units.percent(q.get("nn_top10_overlap")),
            ]
        )
    return header, rows


def _emulated(e: Entry, text: str) -> str:
    """Mark a time measured under emulation, so no one quotes it."""
    return f"{text} †" if e.run.emulated and text != units.DASH else text


def summary_table(s: Summary) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the main table, as plain text; the first four columns are labels, the rest numbers."""
    header = [
        "Bundle",
        "Target",
        "Format",
        "Precision",
        "Size (gzip)",
        "p50",
        "p90",
        "p99",
        "Throughput",
        "Peak RSS",
        task_of(s).metric_label,
        "Agreement",
    ]
    if s.baseline is not None:
        header += ["× faster", "× smaller", delta_label(task_of(s))]
    rows = []
    for e in s.entries:
        b, h, size = e.run.bundle, e.headline or {}, e.run.doc["size"]
        gzip = f" ({units.size(size['model_gzip_bytes'])})" if size["model_gzip_bytes"] is not None else ""
        row = [
            e.name,
            b["target"],
            b["format"],
            b["precision"],
            units.size(size["model_bytes"]) + gzip,
            *(_emulated(e, units.ms(h.get(k))) for k in ("p50_ms", "p90_ms", "p99_ms")),
            _emulated(e, units.rate(h.get("throughput_seq_s"), "seq/s")),
            units.size(e.run.peak_rss_bytes),
            task_of(s).show(e.accuracy) if e.accuracy is not None else units.DASH,
            units.percent(e.agreement),
        ]
        if s.baseline is not None:
            if e.is_baseline:
                row += ["baseline"] * 3
            else:
                faster = "emulated" if e.run.emulated or s.baseline.run.emulated else units.ratio(e.speedup)
                row += [faster, units.ratio(e.size_ratio), units.points(e.accuracy_delta)]
        rows.append(row)
    return header, rows


def latency_table(s: Summary) -> tuple[list[str], list[list[str]]]:
    """(header, rows): every workload of every run; the first two columns are labels."""
    header = ["Workload", "Bundle", "Calls", "p50", "p90", "p99", "Mean tokens", "Throughput", "Tokens/s", "CV"]
    if s.baseline is not None:
        header.append("× faster")
    rows = []
    for w in s.workloads:
        for e in s.entries:
            r = e.run.row(w)
            if r is None:
                continue
            tokens = (
                units.DASH
                if w.mode == "real" and r.get("mean_tokens") is None
                else (f"{r['mean_tokens']:.1f}" if w.mode == "real" else str(w.seq_len))
            )
            row = [
                w.describe(),
                e.name,
                f"{r['iterations']:,}",
                *(_emulated(e, units.ms(r[k])) for k in ("p50_ms", "p90_ms", "p99_ms")),
                tokens,
                _emulated(e, units.rate(r["throughput_seq_s"], "seq/s")),
                _emulated(e, units.rate(r.get("throughput_tok_s"), "tok/s")),
                units.DASH if r.get("cv") is None else f"{r['cv']:.2f}",
            ]
            if s.baseline is not None:
                row.append(
                    "baseline" if e.is_baseline else "emulated" if e.run.emulated else units.ratio(s.speedup(e, w))
                )
            rows.append(row)
    return header, rows


EMULATED_FOOTNOTE = "† emulated run: this time says nothing about the real device."


def _calls(run: Run) -> str:
    """Timed calls per workload, read from the rows (a real-length run defaults to one pass over the texts)."""
    parts = []
    for mode in sorted({r["mode"] for r in run.doc["latency"]}, key=lambda m: m != "synthetic"):
        counts = sorted({r["iterations"] for r in run.doc["latency"] if r["mode"] == mode})
        what = "real-length" if mode == "real" else mode
        parts.append(f"{' or '.join(f'{c:,}' for c in counts)} timed calls per {what} workload")
    return ", ".join(parts)


def measurement_lines(s: Summary) -> list[str]:
    """The short "how measured" block: what was timed and how each derived figure is computed."""
    lines = []
    keys = ("warmup", "min_time_s", "threads", "real", "sort_by_length", "batch_sizes", "seq_lens")

    def key(e: Entry) -> tuple:
        return (*(repr(e.run.settings.get(k)) for k in keys), _calls(e.run))

    groups: dict[tuple, list[str]] = {}
    for e in s.entries:
        groups.setdefault(key(e), []).append(e.name)
    for e in s.entries:
        names = groups.pop(key(e), None)
        if names is None:
            continue
        st = e.run.settings
        who = "All runs" if len(names) == len(s.entries) else ", ".join(names)
        timed = _calls(e.run) + (f" (timed for at least {st['min_time_s']:g} s each)" if st.get("min_time_s") else "")
        lengths = "real lengths from the evaluation texts" + (" (sorted by length)" if st.get("sort_by_length") else "")
        sizes = f"batch sizes {_list(st.get('batch_sizes'))}, synthetic lengths {_list(st.get('seq_lens'))} tokens"
        lines.append(
            f"{who}: {st['warmup']} warm-up calls, then {timed}; {st['threads']} threads; "
            f"{sizes}" + (f"; {lengths}" if st["real"] else "; no real-length run") + "."
        )
    lines.append(
        "p50/p90/p99: percentiles of every timed call (linear interpolation); throughput: sequences per "
        "second at the mean call time; peak RSS: the process's resident memory sampled during the run."
    )
    if s.headline:
        lines.append(f"Summary latency is the {s.headline.describe()} workload, the first one timed in every run.")
    if s.baseline is not None:
        lines.append(
            f"Deltas are against {s.baseline.name}: × faster = baseline p50 / run p50 (same workload), "
            "× smaller = baseline model bytes / run model bytes, "
            + (
                "Δ accuracy in percentage points."
                if task_of(s).metric == "accuracy"
                else f"{delta_label(task_of(s))} in points (x100)."
            )
        )
    lines.append("Sizes in decimal units (1 MB = 10^6 bytes); gzip: the model file compressed by gzip.")
    return lines


def _list(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else units.DASH


def environment_rows(s: Summary) -> list[tuple[str, list[str]]]:
    """(field, one value per run): the long environment detail, shown folded."""

    def env(key: str, fmt=str):
        return [units.DASH if e.run.env.get(key) is None else fmt(e.run.env[key]) for e in s.entries]

    load = lambda v: f"{v:.0%}"  # noqa: E731 - the share of all CPUs busy over the interval
    return [
        ("results file", [e.run.path.name for e in s.entries]),
        ("created at", [str(e.run.doc.get("created_at", units.DASH)) for e in s.entries]),
        ("host", env("hostname")),
        ("machine id", env("machine_id", lambda v: v[:12])),
        ("CPU", env("cpu_model")),
        ("arch", env("arch")),
        ("CPU features", env("cpu_features", lambda v: " ".join(v) or units.DASH)),
        ("cores / threads", [f"{e.run.env['cores']} / {e.run.env['threads']}" for e in s.entries]),
        ("emulated", ["yes" if e.run.emulated else "no" for e in s.entries]),
        ("OS", env("os")),
        ("Python", env("python")),
        ("onnxruntime", env("onnxruntime")),
        ("execution provider", env("execution_provider")),
        ("edgebert", env("edgebert_version")),
        (
            "CPU busy before / during",
            [
                f"{_get(e.run.env, 'cpu_load_before', load)} / {_get(e.run.env, 'cpu_load_during', load)}"
                for e in s.entries
            ],
        ),
        (
            "other processes before / during",
            [
                f"{_get(e.run.env, 'cpu_load_others_before', load)} / {_get(e.run.env, 'cpu_load_others_during', load)}"
                for e in s.entries
            ],
        ),
        (
            "harness overhead per call",
            [
                _get(e.run.doc.get("harness") or {}, "overhead_ms_per_call", lambda v: f"{v * 1000:.2f} µs")
                for e in s.entries
            ],
        ),
    ]


def bundle_rows(s: Summary) -> list[tuple[str, list[str]]]:
    """(field, one value per run): what each bundle is."""
    return [
        ("path", [str(e.run.bundle.get("path", units.DASH)) for e in s.entries]),
        ("sha256", [e.run.bundle["sha256"][:12] for e in s.entries]),
        ("model type", [str(e.run.bundle.get("model_type") or units.DASH) for e in s.entries]),
        ("parameters", [units.count(e.run.bundle.get("parameters")) for e in s.entries]),
        ("layers", [str(e.run.bundle.get("num_layers") or units.DASH) for e in s.entries]),
        ("stages", [" + ".join(e.run.bundle.get("stages") or []) or "none" for e in s.entries]),
        ("bundle size", [units.size(e.run.doc["size"].get("bundle_bytes")) for e in s.entries]),
        (
            "dataset",
            [
                f"{e.run.accuracy['dataset']} ({e.run.accuracy['size']} texts)" if e.run.accuracy else "not measured"
                for e in s.entries
            ],
        ),
    ]


def _get(d: dict[str, Any], key: str, fmt) -> str:
    return units.DASH if d.get(key) is None else fmt(d[key])


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
