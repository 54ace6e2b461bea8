"""Which trial a search chooses, and why each other one lost: from the study's trials as plain records.

A trial meets the budget only when the one-sided 90 % upper bound of its dev drop (the task's primary metric) against fp32 (a paired
bootstrap, search_stats.py) is inside it; of those, the fastest wins. A trial whose observed drop is inside the budget
but whose bound is not is *undecided*: dev is too small to say. With none meeting it, the closest is the lowest bound.

"Fastest" is the side-by-side time (`runoff_ms`, search.runoff) when the trials that meet the budget were timed
together: each trial's own latency was timed alone, minutes away from the others, and on a shared machine that
drifts by more than the gaps between candidates (one run here read a 6-layer shape 1.25 ms untrained and 0.82 ms
distilled, and ranked it ahead of a 4-layer one that is 20 % faster side by side).
"""

from __future__ import annotations

from typing import Any

from edgebert.search_stats import CONFIDENCE


def trial_rows(study) -> list[dict[str, Any]]:
    """Every trial of the study as a plain record: what it tried, how far it got (fidelity), what it measured."""
    rows = []
    for t in study.trials:
        a = t.user_attrs
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                "params": dict(t.params),
                "seed_recipe": a.get("seed_recipe"),
                "planned_steps": a.get("planned_steps"),
                "steps_run": a.get("steps_run"),
                "checkpoints": {str(k): round(v, 3) for k, v in sorted(t.intermediate_values.items())},
                "pruned_reason": a.get("pruned_reason"),
                "pruned_at_step": a.get("pruned_at_step"),
                "shape_latency_ms": a.get("shape_latency_ms"),
                "latency_ms": t.values[0] if t.state.name == "COMPLETE" else None,
                "accuracy": a.get("accuracy"),
                "drop_points": a.get("drop_points"),
                "upper_points": a.get("upper_points"),
                "dev_size": a.get("dev_size"),
                "size_bytes": a.get("size_bytes"),
                "macs_per_token": a.get("macs_per_token"),
                "seconds": a.get("seconds"),
                "bundle": a.get("bundle"),
                "results": a.get("results"),
                "recipe": a.get("recipe"),
                "error": a.get("error") or t.system_attrs.get("fail_reason"),
                "interrupted": t.state.name == "FAIL" and bool(a.get("interrupted")),
                "screened": bool(a.get("deferred")),  # shape timed, distillation queued (search_schedule.py)
                "screened_in": a.get("screened_in"),
            }
        )
    reruns = {r["screened_in"]: r["trial"] for r in rows if r["screened_in"] is not None}
    for r in rows:
        if r["screened"]:
            r["rerun"] = reruns.get(r["trial"])
    return rows


def choose(
    rows: list[dict[str, Any]],
    budget: float,
    items: str = "texts",
    int8_ms: float | None = None,
    min_speedup: float = 1.0,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the fastest finished trial whose 90 % bound meets the budget, None) or (None, the closest: lowest bound).
    `int8_ms`: the plain int8 export's time on dev, measured as the trials' were; a trial not `min_speedup` times
    faster is not chosen (a seeds run chose a static-int8 trial at 0.52x the plain export's speed: the plain export
    was the better bundle), and when no trial in budget is, the closest is the fastest of them.

    Every row gets `verdict` and `why`: the reason it was chosen or lost."""
    complete = [r for r in rows if r["state"] == "COMPLETE" and r.get("upper_points") is not None]
    in_budget = [r for r in complete if r["upper_points"] <= budget + 1e-9]
    meeting = [r for r in in_budget if int8_ms is None or speed(r) * min_speedup < int8_ms]
    chosen = min(meeting, key=lambda r: (speed(r), r["trial"])) if meeting else None
    if chosen is not None or not complete:
        closest = None
    elif in_budget:
        closest = min(in_budget, key=lambda r: (speed(r), r["trial"]))
    else:
        closest = min(complete, key=lambda r: (r["upper_points"], r["latency_ms"]))
    for r in rows:
        r["verdict"], r["why"] = _why(r, chosen, budget, items, int8_ms, min_speedup)
    return chosen, closest


def speed(r: dict[str, Any]) -> float:
    """A trial's latency for ranking: timed side by side with its rivals when they were (runoff_ms), else alone."""
    return r["runoff_ms"] if r.get("runoff_ms") is not None else r["latency_ms"]


def _why(
    r: dict[str, Any],
    chosen: dict[str, Any] | None,
    budget: float,
    items: str,
    int8_ms: float | None = None,
    min_speedup: float = 1.0,
) -> tuple[str, str]:
    pct = f"{100 * CONFIDENCE:.0f} %"
    if r.get("screened"):
        shape = (
            f"shape timed first ({r['shape_latency_ms']:.2f} ms untrained)"
            if r.get("shape_latency_ms")
            else "shape timed first"
        )
        if r.get("rerun") is not None:
            return "screened", f"{shape}; distilled as trial {r['rerun']}"
        return "screened", f"{shape}; the time budget or --trials ran out before its distillation"
    if r["state"] == "PRUNED":
        return "stopped early", r.get("pruned_reason") or "stopped by the pruner"
    if r["state"] == "FAIL" and r.get("interrupted"):
        return "unfinished", "interrupted (Ctrl-C); a resumed run runs it again"
    if r["state"] == "FAIL":
        return "failed", (r.get("error") or "failed").splitlines()[0][:200]
    if r["state"] == "WAITING":
        return "queued", "queued but not run: the time budget or --trials ran out first"
    if r["state"] != "COMPLETE" or r.get("upper_points") is None:
        return "unfinished", "did not finish (interrupted, or still running on another worker)"
    u, d = r["upper_points"], r["drop_points"]
    if chosen is not None and r["trial"] == chosen["trial"]:
        side = " (timed side by side with the others that do)" if r.get("runoff_ms") is not None else ""
        vs = f"; {int8_ms / speed(r):.2f}x the plain int8 export's speed on dev" if int8_ms else ""
        return (
            "chosen",
            f"the fastest trial{side} whose {pct} bound on the drop ({u:+.2f} points) is within the {budget:g}-point "
            f"budget{vs}",
        )
    if u <= budget + 1e-9 and int8_ms is not None and speed(r) * min_speedup >= int8_ms:
        side = ", side by side on dev" if r.get("runoff_ms") is not None else ""
        than = "no faster than" if min_speedup == 1 else f"not {min_speedup:g}x faster than"
        return (
            "no faster",
            f"meets the budget ({pct} bound {u:+.2f} points) but is {than} the plain int8 export: "
            f"{speed(r):.2f} ms vs {int8_ms:.2f} ms{side}",
        )
    if u <= budget + 1e-9:
        side = ", side by side on dev" if r.get("runoff_ms") is not None and chosen.get("runoff_ms") is not None else ""
        return (
            "slower",
            f"meets the budget ({pct} bound {u:+.2f} points) but is slower: {speed(r):.2f} ms vs {speed(chosen):.2f} ms{side}",
        )
    if d <= budget + 1e-9:
        return "undecided", (
            f"{d:+.2f} points on dev is inside the budget but its {pct} bound ({u:+.2f}) is not: "
            f"{r.get('dev_size')} dev {items} are too few to decide"
        )
    return "outside", f"{d:+.2f} points below fp32 on dev ({pct} bound {u:+.2f}): outside the {budget:g}-point budget"
