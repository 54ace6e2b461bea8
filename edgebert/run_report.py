"""The end of `edgebert run`: bench the chosen bundle and both baselines on the test split, and write report.md,
report.html (with the Pareto chart of every trial on dev) and summary.json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgebert import cpu
from edgebert.config import dumps_toml
from edgebert.search import Choice, Search, choice_dict, real_p50


def final_report(search: Search, study, best: Choice | None, front: list[Choice]) -> dict[str, Any]:
    """Bench the chosen bundle and both baselines on the test split; write report.md/.html and summary.json."""
    from edgebert.report import render_report, write_text_atomic

    out, log = search.out, search.log
    final_dir = out / "final"
    final_dir.mkdir(exist_ok=True)
    named = [("fp32", search.base["fp32"]["bundle"]), ("int8", search.base["int8"]["bundle"])] + (
        [("chosen", best.bundle)] if best is not None else [])
    finals: dict[str, Path] = {name: final_dir / f"{name}.json" for name, _ in named}
    done = all(p.is_file() and json.loads(p.read_text())["bundle"]["path"] == str(Path(b).absolute())
               for (_, b), p in zip(named, finals.values()))
    if not done:  # timed together, interleaved: their ratios are the ones to quote (edgebert.bench.interleave)
        from edgebert.bench.interleave import bench_interleaved
        from edgebert.bundle import read_manifest

        log(f"final bench on the test split, interleaved: {', '.join(n for n, _ in named)}")
        seq = min(128, int(read_manifest(Path(named[0][1]))["tokenizer"]["max_length"]))
        bench_interleaved([b for _, b in named], batch_sizes=(1,), seq_lens=(seq,), real=True, warmup=5,
                          iterations=search.config.bench_iterations, out_files=list(finals.values()), log=log)
    results = {k: json.loads(v.read_text()) for k, v in finals.items()}
    trials = trial_rows(study)
    summary = {
        "target": search.target.name, "proxy_latency": search.proxy, "max_accuracy_drop_points": search.config.max_accuracy_drop,
        "fp32_dev_accuracy": search.base["fp32"]["dev"]["accuracy"]["accuracy"], "chosen": choice_dict(best),
        "front": [choice_dict(c) for c in front], "trials": trials,
        "test": {k: {"real_p50_ms": real_p50(v), "accuracy": v["accuracy"]["accuracy"], "model_bytes": v["size"]["model_bytes"]}
                 for k, v in results.items()},
        "recipe": dumps_toml(best.recipe) if best is not None and best.recipe else None,
    }
    if "chosen" in summary["test"]:
        t = summary["test"]
        summary["speedup_vs_int8"] = t["int8"]["real_p50_ms"] / t["chosen"]["real_p50_ms"]
        summary["speedup_vs_fp32"] = t["fp32"]["real_p50_ms"] / t["chosen"]["real_p50_ms"]
        summary["accuracy_drop_vs_fp32_points"] = 100 * (t["fp32"]["accuracy"] - t["chosen"]["accuracy"])
    md = search_markdown(summary) + "\n" + render_report([str(finals[k]) for k in finals], "md", baseline=str(finals["int8"]))
    # Trials another worker ran on another machine have their evidence there: chart what this machine holds.
    dev_paths = [str(out / "baselines" / n / "dev-results.json") for n in ("fp32", "int8")] + [
        r["results"] for r in trials if r["state"] == "COMPLETE" and Path(r["results"]).is_file()]
    html = render_report(dev_paths, "html", baseline=dev_paths[1])
    html = html.replace("<body>", "<body>\n" + search_html(summary), 1)
    write_text_atomic(out / "report.md", md)
    write_text_atomic(out / "report.html", html)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    summary["report_md"], summary["report_html"] = str(out / "report.md"), str(out / "report.html")
    return summary


def trial_rows(study) -> list[dict[str, Any]]:
    rows = []
    front = {t.number for t in study.best_trials} if any(t.values for t in study.trials if t.state.name == "COMPLETE") else set()
    for t in study.trials:
        row = {"trial": t.number, "state": t.state.name, "params": dict(t.params), "on_front": t.number in front,
               "seconds": t.user_attrs.get("seconds"), "macs_per_token": t.user_attrs.get("macs_per_token"),
               "distill_steps_run": t.user_attrs.get("distill_steps_run"),
               "error": t.system_attrs.get("fail_reason")}
        if t.state.name == "COMPLETE":
            row.update(latency_ms=t.values[0], accuracy=t.values[1], size_bytes=t.values[2],
                       results=str(Path(t.user_attrs["dir"]) / "dev-results.json"))
        rows.append(row)
    return rows


def _params_text(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items())


def versus_fp32(drop_points: float) -> str:
    """'0.39 points of accuracy above fp32' rather than '-0.39 points below'."""
    return f"{abs(drop_points):.2f} points of accuracy {'below' if drop_points > 0 else 'above'} fp32"


def _steps_text(params: dict[str, Any], row: dict[str, Any]) -> str:
    asked, run = params.get("distill_steps", ""), row.get("distill_steps_run")
    return f"{run} of {asked} (time bound)" if run is not None and asked and run < asked else str(asked)


def search_markdown(s: dict[str, Any]) -> str:
    lines = [f"# edgebert run — {s['target']}", ""]
    c = s["chosen"]
    if s["proxy_latency"]:
        lines += [f"> Latency here is a **proxy**: {s['target']} bundles were timed on this {cpu.machine()} machine, and the "
                  "search also records multiply-accumulates per token. Bench the chosen bundle on the device itself.", ""]
    if c is None:
        lines += ["No trial finished.", ""]
    else:
        verdict = "within" if c["within_budget"] else "**outside**"
        lines += [f"Chosen: trial {c['trial']} ({_params_text(c['params'])}), {verdict} the budget of "
                  f"{s['max_accuracy_drop_points']:g} points below fp32 (dev accuracy {c['accuracy']:.2%} vs fp32 {s['fp32_dev_accuracy']:.2%}).", ""]
        if "speedup_vs_int8" in s:
            lines += [f"On the test split at real lengths, batch 1: **{s['speedup_vs_int8']:.2f}× faster than the plain int8 export**, "
                      f"{s['speedup_vs_fp32']:.2f}× faster than fp32, {versus_fp32(s['accuracy_drop_vs_fp32_points'])}.", ""]
        lines += ["Recipe (`edgebert compress --recipe`):", "", "```toml", s["recipe"].rstrip(), "```", ""]
    lines += ["## Trials (dev split)", "", "| trial | state | layers | heads cut | FFN cut | distil steps | quantization | p50 ms (real) | dev acc | MB | front |",
              "|---:|---|---:|---:|---:|---:|---|---:|---:|---:|:---:|"]
    for r in s["trials"]:
        p = r["params"]
        if r["state"] == "COMPLETE":
            figs = f"{r['latency_ms']:.2f} | {r['accuracy']:.2%} | {r['size_bytes'] / 1e6:.1f}"
        else:
            figs = f"{(r.get('error') or '')[:60]} | | "
        lines.append(f"| {r['trial']} | {r['state']} | {p.get('layers_kept', '')} | {p.get('heads_ratio', '')} | {p.get('ffn_ratio', '')} | "
                     f"{_steps_text(p, r)} | {p.get('quantization', '')} | {figs} | {'★' if r['on_front'] else ''} |")
    lines += ["", "The final benches below ran in this `edgebert run` process, the bundles interleaved round by round "
              "(`edgebert bench --interleave`): their ratios are side by side, but their peak RSS is the whole process's "
              "(torch included). For a bundle's own memory run `edgebert bench BUNDLE`."]
    return "\n".join(lines) + "\n"


def search_html(s: dict[str, Any]) -> str:
    import html

    c = s["chosen"]
    parts = [f"<section><h1>edgebert run — {html.escape(s['target'])}</h1>"]
    if s["proxy_latency"]:
        parts.append("<p><strong>Latency is a proxy</strong>: these bundles were timed on this machine, not on the target.</p>")
    if c is not None:
        parts.append(f"<p>Chosen: trial {c['trial']} ({html.escape(_params_text(c['params']))}); dev accuracy {c['accuracy']:.2%} "
                     f"(fp32 {s['fp32_dev_accuracy']:.2%}).</p>")
        if "speedup_vs_int8" in s:
            parts.append(f"<p>Test split, real lengths, batch 1: {s['speedup_vs_int8']:.2f}× faster than plain int8, "
                         f"{s['speedup_vs_fp32']:.2f}× faster than fp32, {versus_fp32(s['accuracy_drop_vs_fp32_points'])}.</p>")
        parts.append(f"<pre>{html.escape(s['recipe'])}</pre>")
    parts.append("<p>Charts below: every trial on the dev split (the Pareto chart marks the front).</p></section>")
    return "\n".join(parts)
