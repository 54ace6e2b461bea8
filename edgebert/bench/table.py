"""The results document on screen: a rich table of latencies, lines for sizes, memory, accuracy and warnings,
and the progress bar drawn while it runs."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgebert import task_types
from edgebert.bench import scoring

MB = 1e6  # decimal megabytes (10^6 bytes), as in every report


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / MB:.1f} MB"


@contextlib.contextmanager
def progress_bars(console: Console) -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    """A `progress(description, total)` factory for bench_bundle, drawing one bar per configuration.

    The bar is redrawn by the timing loop between calls (at most 4 times a second), not by rich's refresh
    thread, which would take the GIL at random moments inside timed calls.
    """
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        auto_refresh=False,
        transient=False,
    )
    last = [0.0]

    def factory(description: str, total: int | None) -> Callable[[int], None]:
        task = bars.add_task(description, total=total)
        bars.refresh()

        def advance(n: int) -> None:
            bars.advance(task, n)
            now = time.monotonic()
            if now - last[0] > 0.25:
                last[0] = now
                bars.refresh()

        return advance

    with bars:
        yield factory
        for task in bars.tasks:  # a min-time run has no total: close its bar at what it did
            bars.update(task.id, total=task.completed)
        bars.refresh()


def latency_table(doc: dict[str, Any]) -> Table:
    env = doc["environment"]
    table = Table(
        title=f"{doc['bundle']['label']} · {env['cpu_model']} · {env['threads']} threads · ms per call",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, 0, 0, 1),
    )
    # GOP/s and % of peak go on their own line (render): with them the table no longer fits an 80-column terminal.
    for name in ("mode", "batch", "tokens", "p50", "p90", "p99", "mean", "CV", "seq/s", "tok/s", "calls"):
        table.add_column(name, justify="left" if name == "mode" else "right", no_wrap=True)
    for r in doc["latency"]:
        tokens = str(r["seq_len"]) if r["seq_len"] is not None else f"~{r['mean_tokens']:.1f}"
        table.add_row(
            r["mode"],
            str(r["batch_size"]),
            tokens,
            *(f"{r[k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "cv")),
            f"{r['throughput_seq_s']:.0f}",
            f"{r['throughput_tok_s']:.0f}",
            str(r["iterations"]),
        )
    return table


def limits_line(doc: dict[str, Any]) -> str | None:
    """Achieved GOP/s and share of the machine's GEMM peak per workload, or None when no row has them."""
    parts = [f"{_workload(r)} {g} GOP/s = {f} of peak" for r in doc["latency"] for g, f in [limit_cells(r)] if g != "–"]
    return "limit     " + "; ".join(parts) if parts else None


def limit_cells(row: dict[str, Any]) -> tuple[str, str]:
    """Achieved GOP/s and its share of the machine's GEMM peak ('–' when the graph or the peak is unknown)."""
    gops, frac = row.get("achieved_gops"), row.get("fraction_of_peak")
    return ("–" if gops is None else f"{gops:.1f}", "–" if frac is None else f"{frac:.1%}")


def _workload(r: dict[str, Any]) -> str:
    return f"{r['mode']} b{r['batch_size']}" + (
        f" × {r['seq_len']}" if r["seq_len"] else f" (~{r['mean_tokens']:.1f} tok)"
    )


def render_interleaved(docs: list[dict[str, Any]], console: Console) -> None:
    """Per workload: every bundle's p50, its ratio to the first with the 95% interval, and its share of the peak."""
    env, inter = docs[0]["environment"], docs[0]["interleaved"]
    table = Table(
        title=f"interleaved · {env['cpu_model']} · {env['threads']} threads · ratio = p50 / [0]'s",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, 0, 0, 1),
    )
    for i, d in enumerate(docs):
        console.print(f"[{i}] {d['bundle']['label']}  {d['bundle']['path']}")
    for name in ("workload", "#", "p50 ms", "ratio", "95% interval", "GOP/s", "% peak", "rounds"):
        table.add_column(name, justify="left" if name in ("workload", "bundle") else "right", no_wrap=True)
    ratios = {(r["mode"], r["batch_size"], r["seq_len"], r["bundle"]): r for r in inter["ratios_to_first"]}
    for k, _ in enumerate(docs[0]["latency"]):
        for i, doc in enumerate(docs):
            r = doc["latency"][k]
            ci = ratios.get((r["mode"], r["batch_size"], r["seq_len"], i))
            table.add_row(
                _workload(r) if i == 0 else "",
                f"[{i}]",
                f"{r['p50_ms']:.3f}",
                "1" if ci is None else f"{ci['ratio']:.3f}",
                "" if ci is None else f"{ci['low']:.3f}–{ci['high']:.3f}",
                *limit_cells(r),
                str(r["iterations"]),
            )
    console.print(table)
    g = inter["gate"]
    console.print(
        f"quiet gate  others' CPU share over kept rounds {g['others_mean_kept']:.0%}; {g['discarded_rounds']} rounds "
        f"redone, {g['waited_s']:.0f} s waited of {g['budget_s']:.0f} s, {g['busy_rounds_kept']} busy rounds kept"
    )
    for d in docs:
        acc = d["accuracy"]
        tt = task_types.of_quality(acc)
        value = f"{acc[tt.metric]:.2%}" if tt.percent else tt.show(acc[tt.metric])
        console.print(f"{tt.metric:<11} {d['bundle']['label']}: {value} on {acc['size']} texts")
    for w in dict.fromkeys(w for d in docs for w in d["environment"]["warnings"]):
        console.print(f"[yellow]warning: {w}[/]")


def render(doc: dict[str, Any], console: Console) -> None:
    console.print(latency_table(doc))
    size, mem, acc, env, h = doc["size"], doc["memory"], doc["accuracy"], doc["environment"], doc["harness"]
    console.print(
        f"size      model {_mb(size['model_bytes'])} (gzip {_mb(size['model_gzip_bytes'])}), bundle {_mb(size['bundle_bytes'])}"
    )
    arena = mem["arena"]
    arena_text = "n/a" if arena is None else ("on" if arena.get("cpu_mem_arena") else "off")
    console.print(
        f"memory    peak RSS {_mb(mem['peak_rss_sampled_bytes'])} sampled, {_mb(mem['max_rss_os_bytes'])} OS max; "
        f"model load +{_mb(mem['model_load_bytes'])}; onnxruntime arena {arena_text}"
        + (f"; device {_mb(mem['device_bytes'])}" if mem.get("device_bytes") is not None else "")
    )
    console.print(scoring.describe(acc))
    cold = doc.get("cold_start")
    if cold:
        w = cold["first_call_workload"]
        console.print(
            f"cold      session {cold['session_create_ms']:.1f} ms, tokenizer {cold['tokenizer_load_ms']:.1f} ms, "
            f"first call {cold['first_call_ms']:.2f} ms (batch {w['batch_size']}"
            + (f" × {w['seq_len']}" if w["seq_len"] else "")
            + f"); {cold['time_to_first_result_ms']:.0f} ms to the first result"
        )
    limits = limits_line(doc)
    if limits:
        console.print(limits)
    console.print(
        f"harness   {h['overhead_ms_per_call'] * 1e3:.2f} µs per call = {h['overhead_fraction_of_fastest'] * 100:.2g}% of the fastest call"
    )
    console.print(
        f"machine   {env['arch']} {', '.join(env['cpu_features']) or 'no listed features'}; {env['cores']} cores; "
        f"{env['execution_provider']}; onnxruntime {env['onnxruntime']}; other CPU load {env['cpu_load_others_before']:.0%} "
        f"before, {env['cpu_load_others_during']:.0%} during" + ("; EMULATED" if env["emulated"] else "")
    )
    for w in env["warnings"]:
        console.print(f"[yellow]warning: {w}[/]")
