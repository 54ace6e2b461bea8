"""The report of `edgebert run`: report.md, report.html (with the Pareto chart of every finished trial on dev) and
summary.json, rendered from the run's summary — a plain value (search.finish builds it), so this module needs
nothing from the search itself."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from edgebert import cpu


def write_report(summary: dict[str, Any], out: Path) -> dict[str, str]:
    """Write report.md, report.html and summary.json into `out` (each atomically); return their paths."""
    from edgebert.report import render_report, write_text_atomic

    finals, dev = summary["files"]["final"], summary["files"]["dev"]
    md = search_markdown(summary) + "\n" + render_report([finals[k] for k in finals], "md", baseline=finals["int8"])
    # Trials another worker ran on another machine have their evidence there: chart what this machine holds.
    page = render_report(dev, "html", baseline=dev[1]).replace("<body>", "<body>\n" + search_html(summary), 1)
    paths = {"report_md": str(out / "report.md"), "report_html": str(out / "report.html")}
    write_text_atomic(out / "report.md", md)
    write_text_atomic(out / "report.html", page)
    write_text_atomic(out / "summary.json", json.dumps(summary | paths, indent=2) + "\n")
    return paths


def _params_text(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items())


def metric_of(s: dict[str, Any]) -> dict[str, Any]:
    """What the budget measures (search_tasks.describe); summaries written before task types measured accuracy."""
    return s.get("metric") or {
        "task_type": "sequence-classification",
        "key": "accuracy",
        "label": "Accuracy",
        "unit": "points of accuracy",
        "items": "texts",
    }


def versus_fp32(drop_points: float, label: str = "accuracy") -> str:
    """'0.39 points of accuracy above fp32' rather than '-0.39 points below' (Spearman: points of Spearman x100)."""
    from edgebert.search_tasks import _lower_first

    scale = " x100" if label.startswith("Spearman") else ""
    return (
        f"{abs(drop_points):.2f} points of {_lower_first(label)}{scale} {'below' if drop_points > 0 else 'above'} fp32"
    )


def _value(m: dict[str, Any], value: float | None) -> str:
    """A primary metric's value as the task type shows it (81.60 %, or 0.812 for a correlation)."""
    if value is None:
        return "—"
    return f"{value:.2%}" if m["unit"].startswith("points of") and "x100" not in m["unit"] else f"{value:.3f}"


def fidelity(r: dict[str, Any]) -> str:
    """How far a trial got: distillation steps run of planned, or where it was stopped."""
    planned = r.get("planned_steps")
    if r["state"] not in ("COMPLETE", "PRUNED"):
        return ""
    if r.get("screened"):
        return "shape only (screened)"
    if r["state"] == "PRUNED":
        return f"stopped at step {r.get('pruned_at_step', 0)} of {planned}"
    if planned is None:
        return ""
    if not planned:
        return "full (no training)"
    run = r.get("steps_run")
    if run is None:
        return f"? of {planned}"
    return f"full ({run} steps)" if run >= planned else f"{run} of {planned} (time bound)"


def _origin(r: dict[str, Any]) -> str:
    """Where a trial came from: a seed recipe, and the screened trial it distils (search_schedule.py)."""
    parts = [r.get("seed_recipe") or ""] + (
        [f"re-run of {r['screened_in']}"] if r.get("screened_in") is not None else []
    )
    return "; ".join(p for p in parts if p)


def _confidence(s: dict[str, Any]) -> str:
    return f"{100 * s['confidence']:.0f} %"


def search_markdown(s: dict[str, Any]) -> str:
    lines = [f"# edgebert run — {s['target']}", ""]
    c, budget, conf, m = s["chosen"], s["max_accuracy_drop_points"], _confidence(s), metric_of(s)
    fp32_dev = s.get("fp32_dev_value", s.get("fp32_dev_accuracy"))
    if s["proxy_latency"]:
        lines += [
            f"> Latency here is a **proxy**: {s['target']} bundles were timed on this {cpu.machine()} machine, and the "
            "search also records multiply-accumulates per token. Bench the chosen bundle on the device itself.",
            "",
        ]
    lines += [
        f"Budget: at most {budget:g} {m['unit']} below fp32 (`--max-accuracy-drop`, on the task's primary metric, "
        f"{m['label']}), decided by the one-sided {conf} upper bound of each trial's drop, from a paired bootstrap over "
        f"the {s['dev_size']} dev {m['items']} (fp32 dev {m['label']} {_value(m, fp32_dev)}). "
        f"Seed {s['seed']}; study `{s['study']}` in `{s['storage']}`.",
        "",
    ]
    if m["task_type"] == "sentence-embedding":
        lines += [
            "Lee has no dev/test split: the search chose on 25 of its 50 documents (300 rated pairs) and reports on "
            "the other 25, resampling documents (not pairs) in the bootstrap. 25 documents make wide bounds; the "
            "final benches' Spearman below is over all 50, and latency is timed on the evaluation texts export "
            "packed (Rotten Tomatoes' test split, or your --dataset's).",
            "",
        ]
    if c is None and (s.get("closest") or {}).get("verdict") == "no faster":
        k = s["closest"]
        lines += [
            f"**No trial inside the budget beats the plain int8 export** (exit code 1): use the plain export. The "
            f"fastest of them, trial {k['trial']} ({_params_text(k['params'])}), {k['why']}.",
            "",
        ]
    elif c is None:
        k = s.get("closest")
        lines += [
            "**No trial meets the budget** (exit code 1)."
            + (
                f" The closest is trial {k['trial']} ({_params_text(k['params'])}): {k['drop_points']:+.2f} points on dev, "
                f"{conf} bound {k['upper_points']:+.2f}, {k['latency_ms']:.2f} ms."
                if k
                else " No trial finished."
            ),
            "",
        ]
    else:
        lines += [
            f"Chosen: trial {c['trial']} ({_params_text(c['params'])}): {c['drop_points']:+.2f} points below fp32 on dev, "
            f"{conf} bound **{c['upper_points']:+.2f}** ≤ {budget:g}.",
            "",
        ]
        if s.get("chosen_elsewhere"):
            lines += [
                f"It ran on another worker: its bundle is {c['bundle']} on that machine; bench it there on the test split.",
                "",
            ]
        if "speedup_vs_int8" in s:
            t = s["test_drop"]
            lo, hi = t["interval_points"]
            lines += [
                f"On the test split ({t['n']} {m['items']}, not seen by the search) at real lengths, batch 1: "
                f"**{s['speedup_vs_int8']:.2f}× faster than the plain int8 export**, {s['speedup_vs_fp32']:.2f}× faster than fp32, "
                f"{versus_fp32(t['drop_points'], m['label'])} ({conf} interval of the drop: {lo:+.2f} to {hi:+.2f} points; "
                f"{'within' if t['within_budget'] else '**outside**'} the budget).",
                "",
            ]
        if s.get("recipe"):
            lines += ["Recipe (`edgebert compress --recipe`):", "", "```toml", s["recipe"].rstrip(), "```", ""]
    lines += [
        "## Trials (dev split)",
        "",
        "Fidelity: distillation steps run. A larger study first times several candidates' shapes (screened: no "
        "training yet), then distils them cheapest first (the fastest seed first when its distillation fits the time "
        "left), each as a trial of its own (`re-run of`). "
        "A trial is stopped before training when its untrained shape is no faster "
        "than one that already meets the budget, and during training when its learning curve cannot reach the budget. "
        "p50: each trial timed alone on dev; the trials that meet the budget are timed again side by side with the "
        "plain int8 export, on the same sample of dev texts, round-robin, and that time decides.",
        "",
        f"| trial | from | layers | heads cut | FFN cut | quantization | fidelity | p50 ms (real) | dev {m['label']} drop (pts) | {conf} bound | MB | verdict: why |",
        "|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for r in s["trials"]:
        p = r["params"]
        lat = r["latency_ms"] if r["latency_ms"] is not None else r.get("shape_latency_ms")
        lat_text = "" if lat is None else (f"{lat:.2f}" if r["latency_ms"] is not None else f"({lat:.2f} untrained)")
        if r.get("runoff_ms") is not None:  # search.runoff: timed again beside the other trials that meet the budget
            lat_text += f"; {r['runoff_ms']:.2f} side by side"
        drop = "" if r.get("drop_points") is None else f"{r['drop_points']:+.2f}"
        if drop == "" and r.get("checkpoints"):
            last = max(r["checkpoints"], key=int)
            drop = f"({r['checkpoints'][last]:+.2f} at step {last})"
        upper = "" if r.get("upper_points") is None else f"{r['upper_points']:+.2f}"
        size = "" if r.get("size_bytes") is None else f"{r['size_bytes'] / 1e6:.1f}"
        lines.append(
            f"| {r['trial']} | {_origin(r)} | {p.get('layers_kept', '')} | {p.get('heads_ratio', '')} | "
            f"{p.get('ffn_ratio', '')} | {p.get('quantization', '')} | {fidelity(r)} | {lat_text} | {drop} | {upper} | {size} | "
            f"**{r.get('verdict', '')}**: {r.get('why', '').replace('|', '/')} |"
        )
    lines += [
        "",
        "The final benches below ran in this `edgebert run` process, the bundles interleaved round by round "
        "(`edgebert bench --interleave`): their ratios are side by side, but their peak RSS is the whole process's "
        "(torch included). For a bundle's own memory run `edgebert bench BUNDLE`.",
    ]
    return "\n".join(lines) + "\n"


def search_html(s: dict[str, Any]) -> str:
    c, conf, m = s["chosen"], _confidence(s), metric_of(s)
    parts = [f"<section><h1>edgebert run — {html.escape(s['target'])}</h1>"]
    if s["proxy_latency"]:
        parts.append(
            "<p><strong>Latency is a proxy</strong>: these bundles were timed on this machine, not on the target.</p>"
        )
    if c is None and (s.get("closest") or {}).get("verdict") == "no faster":
        k = s["closest"]
        parts.append(
            "<p><strong>No trial inside the budget beats the plain int8 export</strong>: use the plain export. "
            f"The fastest of them, trial {k['trial']}, {html.escape(k['why'])}.</p>"
        )
    elif c is None:
        k = s.get("closest")
        parts.append(
            "<p><strong>No trial meets the budget.</strong>"
            + (
                f" Closest: trial {k['trial']}, {k['drop_points']:+.2f} points on dev ({conf} bound {k['upper_points']:+.2f}).</p>"
                if k
                else "</p>"
            )
        )
    else:
        parts.append(
            f"<p>Chosen: trial {c['trial']} ({html.escape(_params_text(c['params']))}); {c['drop_points']:+.2f} points "
            f"below fp32 on dev, {conf} bound {c['upper_points']:+.2f} (budget {s['max_accuracy_drop_points']:g}).</p>"
        )
        if "speedup_vs_int8" in s:
            t = s["test_drop"]
            parts.append(
                f"<p>Test split, real lengths, batch 1: {s['speedup_vs_int8']:.2f}× faster than plain int8, "
                f"{s['speedup_vs_fp32']:.2f}× faster than fp32, {versus_fp32(t['drop_points'], m['label'])} "
                f"({conf} interval {t['interval_points'][0]:+.2f} to {t['interval_points'][1]:+.2f}).</p>"
            )
        if s.get("recipe"):
            parts.append(f"<pre>{html.escape(s['recipe'])}</pre>")
    parts.append(
        "<ul>"
        + "".join(
            f"<li>trial {r['trial']}: {html.escape(r.get('verdict', ''))} — {html.escape(r.get('why', ''))} "
            f"({html.escape(fidelity(r))})</li>"
            for r in s["trials"]
        )
        + "</ul>"
    )
    if m["task_type"] == "sentence-embedding":
        parts.append(
            "<p>Charts below: every finished trial as bench scored it, on the texts export packed (all 50 Lee "
            "documents among them; the choice used only its 25 dev documents). The Pareto chart marks the front.</p>"
            "</section>"
        )
    else:
        parts.append(
            "<p>Charts below: every finished trial on the dev split (the Pareto chart marks the front).</p></section>"
        )
    return "\n".join(parts)
