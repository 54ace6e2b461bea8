"""`edgebert run`: compress → export → bench → report over searched recipes; ends with the best bundle."""

from __future__ import annotations

import click

from edgebert.cli.common import console, examples, log, model_option, target_option, task_option, verbosity_options


@click.command(
    "run",
    epilog=examples(
        "edgebert run --target x86                                        # the default model, 14 minutes, 12 trials",
        "edgebert run --target x86 --max-accuracy-drop 1.0 --budget-minutes 12 --trials 4 --out runs/x86",
        "edgebert run --target arm64 --model ./my-bert --dataset reviews.csv --budget-minutes 60 --trials 10",
        "edgebert run --target x86 --task sentence-embedding --max-accuracy-drop 2   # Spearman on Lee, x100",
        "edgebert run --target x86 --task token-classification                       # entity F1 on CoNLL-2003",
    ),
)
@target_option
@model_option
@task_option
@click.option(
    "--dataset",
    type=click.Path(),
    default=None,
    help="CSV/JSONL of labelled texts (token classification: tagged sentences), split 80/10/10 (default: the "
    "task's data; for sentence embeddings: texts to distil on, Lee stays the benchmark).",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option(
    "--max-accuracy-drop",
    default=1.0,
    show_default=True,
    type=float,
    help="Points of the task's primary metric the result may lose against fp32 (accuracy; entity F1; Spearman on Lee "
    "x100): the 90 % upper bound of the drop on dev must stay within it.",
)
@click.option(
    "--min-speedup",
    default=1.0,
    show_default=True,
    type=float,
    help="Times faster than the plain int8 export (on dev, timed side by side) a trial must be to be chosen; "
    "0 chooses the fastest trial in budget whatever its speed.",
)
@click.option(
    "--budget-minutes", default=14.0, show_default=True, type=float, help="Stop starting new trials after this long."
)
@click.option(
    "--trials",
    default=12,
    show_default=True,
    type=int,
    help="Most trials in the study (finished and stopped ones count when resuming).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seeds pruning samples, distillation batches, the sampler and the bootstrap (data splits stay fixed).",
)
@click.option(
    "--recipes",
    type=click.Path(),
    default=None,
    help="Directory of recipe .toml files that seed the study (default: the shipped recipes).",
)
@click.option(
    "--storage",
    default=None,
    help="Optuna storage URL (default: sqlite:///<out>/study.db); a PostgreSQL URL shares one study between machines.",
)
@click.option("--study-name", default=None, help="Study name inside the storage (default: edgebert-<target>).")
@click.option(
    "--out",
    "-o",
    type=click.Path(),
    default=None,
    help="Run directory (default: runs/<target>); re-running it resumes.",
)
@verbosity_options
def command(
    target,
    model,
    task,
    dataset,
    text_column,
    label_column,
    max_accuracy_drop,
    min_speedup,
    budget_minutes,
    trials,
    seed,
    recipes,
    storage,
    study_name,
    out,
) -> None:
    """Search recipes for the fastest bundle within a budget on the task's primary metric, with the evidence."""
    from edgebert.config import from_dict
    from edgebert.run_report import versus_fp32
    from edgebert.search import RunConfig, run_search

    config = from_dict(
        RunConfig,
        {
            "target": target,
            "model": model,
            "task": task,
            "dataset": dataset,
            "text_column": text_column,
            "label_column": label_column,
            "max_accuracy_drop": max_accuracy_drop,
            "min_speedup": min_speedup,
            "budget_minutes": budget_minutes,
            "trials": trials,
            "seed": seed,
            "recipes": recipes,
            "storage": storage,
            "study_name": study_name,
            "out": out or f"runs/{target}",
        },
    )

    def on_trial(trial) -> None:
        a = trial.user_attrs
        figures = (
            f": {trial.values[0]:.2f} ms, {a['drop_points']:+.2f} points vs fp32 on dev (90 % bound {a['upper_points']:+.2f})"
            if trial.values and "upper_points" in a
            else (f": {a['pruned_reason']}" if "pruned_reason" in a else "")
        )
        if trial.state.name == "FAIL":
            figures = ": interrupted" if a.get("interrupted") else ": " + str(a.get("error") or "failed")
        console.print(f"[bold]trial {trial.number}[/] {trial.state.name.lower()}{figures}")

    with console.status("[bold]edgebert run[/]: working", spinner="dots") as status:

        def step(message: str) -> None:
            status.update(f"[bold]edgebert run[/]: {message}")
            log(message)

        summary = run_search(config, log=step, progress=on_trial)
    c = summary["chosen"]
    console.print(f"[green]chosen[/] trial {c['trial']}: {c['bundle']}")
    if "speedup_vs_int8" in summary:
        t = summary["test_drop"]
        console.print(
            f"test split, real lengths: {summary['speedup_vs_int8']:.2f}× faster than plain int8, "
            f"{versus_fp32(t['drop_points'], summary['metric']['label'])} (90 % interval {t['interval_points'][0]:+.2f} to {t['interval_points'][1]:+.2f})"
        )
    console.print(f"report: {summary['report_md']} and {summary['report_html']}")
