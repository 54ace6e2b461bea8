"""The regression gate: is a candidate run slower or less accurate than a baseline run beyond a threshold?

Latency is decided per workload (mode, batch size, sequence length) timed in both runs, from the per-call samples:
the figure is the ratio of medians (candidate / baseline; the median is least moved by a neighbour's spikes) and its
95% bootstrap interval (edgebert.bench.bootstrap; paired by round-robin cycle when both runs come from one `bench --interleave`).
The verdict is "regressed" only when the whole interval lies above 1 + threshold, "improved" when it lies below
1 / (1 + threshold), "no change" when it lies inside the band, and otherwise "undecidable (too noisy)": one p50
against a fixed percentage read a true 3 % slowdown as +5.9 % and failed a 5 % gate. Only "regressed" fails the
gate. Runs measured while other processes used more than BUSY_LOAD of the CPUs are refused unless --allow-busy.
Accuracy is gated on the drop in percentage points. A ratio of two latencies only means something when both were
measured on one machine with one thread count, so runs from different machines are refused unless the caller
says they know (--allow-different-env); runs of different tasks or datasets are always refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from edgebert import task_types
from edgebert.bench import bootstrap
from edgebert.bench.environment import BUSY_LOAD
from edgebert.errors import UserError
from edgebert.report import units
from edgebert.report.markdown import cell, table
from edgebert.report.results import Run, same_task_and_dataset

DEFAULT_MAX_LATENCY_REGRESSION = 5.0  # percent of the baseline p50
DEFAULT_MAX_ACCURACY_DROP = 0.5  # percentage points


@dataclass(frozen=True)
class Check:
    """One gated figure. `change` is candidate - baseline in `unit` (% of the baseline for latency, points for
    accuracy); `limit` is the largest change that passes (latency) or the largest drop that passes (accuracy)."""

    figure: str
    baseline: float
    candidate: float
    change: float
    limit: float
    kind: str  # "latency" | "accuracy"
    ci: bootstrap.RatioCI | None = None  # latency: the ratio's bootstrap interval
    verdict: str | None = None  # latency: one of bootstrap.VERDICTS
    percent: bool = True  # accuracy kind: a percentage (accuracy, F1), or a score x100 (a correlation)

    @property
    def passed(self) -> bool:
        if self.verdict is not None:
            return self.verdict != "regressed"
        slack = 1e-9  # a change exactly at the limit passes, whatever the float rounding of the subtraction
        return self.change <= self.limit + slack if self.kind == "latency" else -self.change <= self.limit + slack

    def interval(self) -> str:
        if self.ci is None:
            return "–"
        return f"{units.signed_percent((self.ci.low - 1) * 100)} to {units.signed_percent((self.ci.high - 1) * 100)}"

    def result(self) -> str:
        if self.verdict is not None:
            return "**regressed**" if self.verdict == "regressed" else self.verdict
        return "pass" if self.passed else "**FAIL**"

    def values(self) -> tuple[str, str, str, str]:
        if self.kind == "latency":
            return (
                units.ms(self.baseline),
                units.ms(self.candidate),
                units.signed_percent(self.change),
                f"≤ {units.signed_percent(self.limit)}",
            )
        unit = "%" if self.percent else ""
        return (
            f"{self.baseline:.2f}{unit}",
            f"{self.candidate:.2f}{unit}",
            units.points(self.change, 2),
            f"≥ {units.points(-self.limit, 2)}",
        )

    def describe(self) -> str:
        base, cand, change, _ = self.values()
        if self.kind == "latency":
            return (
                f"{self.figure} regressed {change} ({base} → {cand}; 95% interval {self.interval()}), over the "
                f"{units.signed_percent(self.limit)} limit"
            )
        return f"{self.figure} dropped {-self.change:.2f} points ({base} → {cand}), over the {self.limit:g}-point limit"


@dataclass
class Comparison:
    baseline: Run
    candidate: Run
    max_latency_regression: float
    max_accuracy_drop: float
    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # figures present but not gated, with why
    notes: list[str] = field(default_factory=list)
    paired: bool = False  # both runs from one interleaved set: rotation cycles of rounds resampled jointly
    cycle: int = 1  # rounds in one rotation of the set's round-robin order: the number of bundles interleaved

    @property
    def undecided(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "undecidable (too noisy)"]

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def failure_message(self) -> str:
        """One line for the error: the worst crossing, and how many more there are."""
        worst = max(self.failures, key=lambda c: (c.kind == "latency", abs(c.change) - c.limit))
        more = len(self.failures) - 1
        return worst.describe() + (
            f"; and {more} more figure{'s' if more > 1 else ''} over a threshold" if more else ""
        )


def compare_runs(
    baseline: Run,
    candidate: Run,
    max_latency_regression: float = DEFAULT_MAX_LATENCY_REGRESSION,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    allow_different_env: bool = False,
    allow_busy: bool = False,
) -> Comparison:
    """Gate `candidate` against `baseline`. Raises UserError for runs that must not be compared."""
    for name, value in (("latency regression", max_latency_regression), ("accuracy drop", max_accuracy_drop)):
        if not value >= 0:
            raise UserError(f"the maximum {name} must be a number >= 0, got {value!r}")
    same_task_and_dataset([baseline, candidate], "compare")
    cmp = Comparison(baseline, candidate, max_latency_regression, max_accuracy_drop)
    differences = environment_differences(baseline, candidate)
    if differences and not allow_different_env:
        raise UserError(
            f"the runs come from different environments ({'; '.join(differences)}): latency ratios across "
            "machines or thread counts mislead; compare runs from one machine, or pass --allow-different-env"
        )
    if differences:
        cmp.notes.append(
            f"Different environments ({'; '.join(differences)}), compared because --allow-different-env was given."
        )
    busy = busy_runs(baseline, candidate)
    if busy and not allow_busy:
        raise UserError(
            f"{'; '.join(busy)}: latency measured so is inflated and noisy; rerun on a quiet machine, or pass --allow-busy"
        )
    if busy:
        cmp.notes.append(f"Measured under foreign load ({'; '.join(busy)}), compared because --allow-busy was given.")
    group = [(r.doc.get("interleaved") or {}).get("group") for r in (baseline, candidate)]
    cmp.paired = group[0] is not None and group[0] == group[1]
    if cmp.paired:
        cmp.cycle = max(1, len(baseline.doc["interleaved"].get("bundles") or []))
    _latency_checks(cmp)
    _accuracy_check(cmp)
    for key in ("warmup", "iterations", "min_time_s", "sort_by_length"):
        b, c = baseline.settings.get(key), candidate.settings.get(key)
        if b != c:
            cmp.notes.append(f"Measured with different settings: {key} {b} vs {c}.")
    if baseline.bundle["sha256"] == candidate.bundle["sha256"]:
        cmp.notes.append(
            "Both runs timed the same bundle (same sha256): a difference comes from the machine, the runtime "
            "or noise, not from the model."
        )
    return cmp


def environment_differences(a: Run, b: Run) -> list[str]:
    """What differs between the machines and thread counts of two runs, as 'field a vs b' strings."""
    out = []
    for key in ("machine_id", "cpu_model", "cores"):
        if a.env[key] != b.env[key]:
            av, bv = (str(v)[:12] if key == "machine_id" else v for v in (a.env[key], b.env[key]))
            out.append(f"{key} {av} vs {bv}")
    threads = [(r.settings["threads"], r.env["threads"]) for r in (a, b)]
    if threads[0] != threads[1]:
        out.append(f"threads {threads[0][0]} vs {threads[1][0]}")
    return out


def busy_runs(*runs: Run) -> list[str]:
    """'the candidate was measured while other processes used 84% of the CPUs' for each run over BUSY_LOAD."""
    out = []
    for name, r in zip(("baseline", "candidate"), runs):
        others = max((r.env.get(k) or 0.0) for k in ("cpu_load_others_before", "cpu_load_others_during"))
        if others > BUSY_LOAD:
            out.append(f"the {name} was measured while other processes used {others:.0%} of the CPUs")
    return out


def _latency_checks(cmp: Comparison) -> None:
    base, cand = cmp.baseline, cmp.candidate
    common = [w for w in base.workloads if cand.row(w) is not None]
    for w in base.workloads:
        if cand.row(w) is None:
            cmp.skipped.append(f"{w.describe()}: timed only in the baseline")
    for w in cand.workloads:
        if base.row(w) is None:
            cmp.skipped.append(f"{w.describe()}: timed only in the candidate")
    if base.emulated or cand.emulated:
        which = (
            "both runs were"
            if base.emulated and cand.emulated
            else ("the baseline was" if base.emulated else "the candidate was")
        )
        cmp.skipped.append(
            f"latency: {which} emulated, so their times say nothing about the device; only accuracy is gated"
        )
        return
    if not common:
        raise UserError(
            "the runs share no timed workload (mode, batch size, sequence length); bench both with the same "
            "--batch-sizes and --seq-lens"
        )
    for w in common:
        rb, rc = base.row(w), cand.row(w)
        b, c = rb["p50_ms"], rc["p50_ms"]
        paired = cmp.paired and len(rb["samples_ms"]) == len(rc["samples_ms"])
        ci = bootstrap.ratio_ci(rb["samples_ms"], rc["samples_ms"], paired=paired, cycle=cmp.cycle if paired else 1)
        change = (ci.ratio - 1) * 100
        cmp.checks.append(
            Check(
                f"p50 latency ({w.describe()})",
                b,
                c,
                change,
                cmp.max_latency_regression,
                "latency",
                ci,
                bootstrap.verdict(ci, cmp.max_latency_regression),
            )
        )


def _accuracy_check(cmp: Comparison) -> None:
    base, cand = cmp.baseline.accuracy, cmp.candidate.accuracy
    if base is None and cand is None:
        cmp.skipped.append("accuracy: measured in neither run")
        return
    if base is None or cand is None:
        missing = "baseline" if base is None else "candidate"
        raise UserError(f"accuracy was measured in only one run (not the {missing}); bench both with the same dataset")
    tt = task_types.of_quality(base)
    if task_types.of_quality(cand).name != tt.name:
        raise UserError(
            f"the runs are of different tasks ({tt.name}, {task_types.of_quality(cand).name}); compare runs of one task"
        )
    b, c = task_types.primary_value(base) * 100, task_types.primary_value(cand) * 100
    figure = "accuracy" if tt.metric == "accuracy" else f"{tt.metric_label} (x100)"
    cmp.checks.append(Check(figure, b, c, c - b, cmp.max_accuracy_drop, "accuracy", percent=tt.percent))


def render_markdown(cmp: Comparison) -> str:
    verdict = "PASS" if cmp.passed else f"FAIL ({len(cmp.failures)} of {len(cmp.checks)} checks over a threshold)"
    if cmp.passed and cmp.undecided:
        verdict += (
            f" ({len(cmp.undecided)} latency figure{'s' if len(cmp.undecided) > 1 else ''} undecidable: too noisy)"
        )
    b, c = cmp.baseline, cmp.candidate
    out = [
        f"## edgebert compare: {verdict}",
        "",
        f"Baseline **{cell(b.bundle['label'])}** ({cell(b.path.name)}, sha256 {b.bundle['sha256'][:12]}) · "
        f"candidate **{cell(c.bundle['label'])}** ({cell(c.path.name)}, sha256 {c.bundle['sha256'][:12]}).",
        "",
        f"Latency: the ratio of p50s per workload with its 95% bootstrap interval "
        f"({'paired by round-robin cycle: one interleaved run' if cmp.paired else 'independent runs'}); regressed only when the whole "
        f"interval is above {units.signed_percent(cmp.max_latency_regression)}. Accuracy: its drop (at most "
        f"{cmp.max_accuracy_drop:g} points).",
        "",
    ]
    rows = [
        [cell(ch.figure), *ch.values()[:3], ch.interval() if ch.kind == "latency" else "–", ch.values()[3], ch.result()]
        for ch in cmp.checks
    ]
    out += table(["Figure", "Baseline", "Candidate", "Change", "95% interval", "Limit", "Verdict"], rows, labels=1)
    if cmp.skipped:
        out += ["", "Not gated:", "", *(f"- {cell(s)}" for s in cmp.skipped)]
    if cmp.notes:
        out += ["", *(f"> {cell(n)}" for n in cmp.notes)]
    return "\n".join(out) + "\n"


def to_json(cmp: Comparison) -> dict[str, Any]:
    def side(r: Run) -> dict[str, Any]:
        return {
            "results_file": r.path.name,
            "label": r.bundle["label"],
            "sha256": r.bundle["sha256"],
            "machine_id": r.env["machine_id"],
            "created_at": r.doc.get("created_at"),
        }

    return {
        "schema_version": 1,
        "kind": "comparison",
        "passed": cmp.passed,
        "baseline": side(cmp.baseline),
        "candidate": side(cmp.candidate),
        "thresholds": {
            "max_latency_regression_percent": cmp.max_latency_regression,
            "max_accuracy_drop_points": cmp.max_accuracy_drop,
            "latency_percentile": "p50",
            "confidence": bootstrap.CONFIDENCE,
            "resamples": bootstrap.RESAMPLES,
        },
        "paired": cmp.paired,
        "checks": [
            {
                "figure": c.figure,
                "kind": c.kind,
                "baseline": c.baseline,
                "candidate": c.candidate,
                "change": c.change,
                "unit": "percent" if c.kind == "latency" else "points",
                "passed": c.passed,
                **(
                    {"verdict": c.verdict, "ratio": c.ci.ratio, "ratio_low": c.ci.low, "ratio_high": c.ci.high}
                    if c.ci is not None
                    else {}
                ),
            }
            for c in cmp.checks
        ],
        "skipped": cmp.skipped,
        "notes": cmp.notes,
    }


def render_json(cmp: Comparison) -> str:
    return json.dumps(to_json(cmp), indent=2, ensure_ascii=False) + "\n"
