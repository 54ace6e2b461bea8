"""`edgebert run` on a tiny model with the shipped seed recipes: the search, its report, resuming, Ctrl-C, two workers
on one SQLite study. (Fast tiny-model tests of the same machinery: test_search_run.py, test_search_postgres.py.)"""

import json
import subprocess
from pathlib import Path
import sys

import optuna
import pytest
from click.testing import CliRunner

from conftest import make_rows, write_csv
from edgebert.cli import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dataset(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("run") / "data.csv", make_rows(800, seed=3))


def run_args(model, dataset, out, *extra):
    return [
        "run",
        "--target",
        "x86",
        "--model",
        str(model),
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        "--budget-minutes",
        "10",
        "--min-speedup",  # a tiny model's pruned shapes are not faster than its plain int8 export (call overhead
        "0",  # rules); test_the_plain_int8_export_is_a_rival_every_trial_must_beat checks the rule itself
        *map(str, extra),
    ]


def test_run_writes_report_and_keeps_every_trial(tmp_path, tiny_trained_model, run_dataset):
    out = tmp_path / "r"
    result = CliRunner().invoke(
        cli, run_args(tiny_trained_model, run_dataset, out, "--trials", 2, "--max-accuracy-drop", 100)
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chosen"]["verdict"] == "chosen" and len(summary["trials"]) == 2
    for t in summary["trials"]:
        assert t["state"] in ("COMPLETE", "PRUNED") and t["why"]
        if t["state"] == "COMPLETE":
            assert (Path(t["bundle"]) / "manifest.json").is_file() and Path(t["results"]).is_file()
    md = (out / "report.md").read_text()
    assert (
        "Chosen: trial" in md
        and "faster than the plain int8 export" in md
        and "```toml" in md
        and "90 % interval" in md
    )
    html = (out / "report.html").read_text()
    assert "<svg" in html and "Pareto" in html
    # each trial's distillation is bounded by what was left of the 10-minute budget when it started
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{out / 'study.db'}")
    # (a trial stopped before training, its shape no faster than one already in budget, never got a bound: on a busy
    # machine the seed's shape can time slower than the first trial's)
    distilling = [t.user_attrs for t in study.trials if "distill" in t.user_attrs["recipe"]]
    assert all("minutes" in a["recipe"]["distill"] or not a.get("steps_run") for a in distilling)
    assert all(
        0 < a["recipe"]["distill"]["minutes"] <= 10 - 1.5 for a in distilling if "minutes" in a["recipe"]["distill"]
    )
    # two trials in budget are timed again side by side on dev (search.runoff), and that time picks the faster
    meeting = [t for t in summary["trials"] if t["verdict"] in ("chosen", "slower")]
    if len(meeting) > 1:
        assert all((out / "runoff" / f"trial-{t['trial']:03d}.json").is_file() for t in meeting)
        assert summary["chosen"]["runoff_ms"] == min(t["runoff_ms"] for t in meeting) and "side by side" in md
    # the test split is only used at the end: trials are scored on dev
    dev = json.loads((out / "trials" / "000" / "shape-dev-results.json").read_text())
    assert dev["accuracy"]["size"] == 80


def test_a_spent_budget_still_runs_one_unbounded_trial(tmp_path, tiny_trained_model, run_dataset):
    out = tmp_path / "r"
    args = run_args(tiny_trained_model, run_dataset, out, "--trials", 3, "--max-accuracy-drop", 100)
    args[args.index("--budget-minutes") + 1] = "0.01"  # spent by the baselines
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{out / 'study.db'}")
    ran = [t for t in study.trials if t.state.name != "WAITING"]  # the other seeds stay queued for a later run
    assert len(ran) == 1
    assert "minutes" not in ran[0].user_attrs["recipe"].get("distill", {})


def test_the_plain_int8_export_is_a_rival_every_trial_must_beat(tmp_path, tiny_trained_model, run_dataset):
    """A trial inside the budget but not --min-speedup times faster than the plain int8 export (timed side by side on
    dev) is not chosen: the run exits 1, says to use the plain export, and the report says why each trial lost."""
    out = tmp_path / "r"
    args = run_args(tiny_trained_model, run_dataset, out, "--trials", 1, "--max-accuracy-drop", 100)
    args[args.index("--min-speedup") + 1] = "1000"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no trial inside the budget is 1000x faster than the plain int8 export" in errors[0]
    assert "use the plain int8 export" in errors[0] and "Traceback" not in result.output
    assert (out / "runoff" / "int8.json").is_file()  # timed with the trial, not from minutes earlier
    md = (out / "report.md").read_text()
    assert "**no faster**" in md and "not 1000x faster than the plain int8 export" in md
    assert "**No trial inside the budget beats the plain int8 export** (exit code 1)" in md
    assert "beats the plain int8 export</strong>" in (out / "report.html").read_text()


def test_interrupt_then_resume_does_not_redo_finished_trials(tmp_path, tiny_trained_model, run_dataset, monkeypatch):
    import edgebert.compress.recipe as recipe

    out = tmp_path / "r"
    real = recipe.compress_model
    calls = []

    def counting(*a, **k):
        calls.append(a[2])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(recipe, "compress_model", counting)
    first = CliRunner().invoke(
        cli, run_args(tiny_trained_model, run_dataset, out, "--trials", 2, "--max-accuracy-drop", 100)
    )
    assert first.exit_code == 130, first.output
    finished = out / "trials" / "000" / "shape-dev-results.json"
    assert finished.is_file()
    stamp = finished.stat().st_mtime_ns
    monkeypatch.setattr(recipe, "compress_model", real)
    second = CliRunner().invoke(
        cli, run_args(tiny_trained_model, run_dataset, out, "--trials", 2, "--max-accuracy-drop", 100)
    )
    assert second.exit_code == 0, second.output
    assert finished.stat().st_mtime_ns == stamp  # trial 0 was not redone
    summary = json.loads((out / "summary.json").read_text())
    states = sorted(t["state"] for t in summary["trials"])
    assert states.count("COMPLETE") >= 1 and len(summary["trials"]) >= 2
    assert any(t["interrupted"] for t in summary["trials"])  # the interrupted trial is shown as such


def test_two_workers_share_one_sqlite_study(tmp_path, tiny_trained_model, run_dataset):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgebert.cli",
                *run_args(
                    tiny_trained_model,
                    run_dataset,
                    tmp_path / f"w{i}",
                    "--trials",
                    4,
                    "--storage",
                    storage,
                    "--max-accuracy-drop",
                    100,
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=1200)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    study = optuna.load_study(study_name=None, storage=storage)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))  # no duplicate, no gap
    finished = [
        t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED") and "duplicate_of" not in t.user_attrs
    ]
    assert len(finished) >= 4
    for t in finished:  # each finished trial's evidence exists in the worker that ran it
        if t.state.name == "COMPLETE":
            assert Path(t.user_attrs["results"]).is_file()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--trials", "0"], "--trials must be at least 1"),
        (["--budget-minutes", "0"], "--budget-minutes must be more than 0"),
        (["--storage", "sqlite:////no/such/dir/study.db"], "cannot open the Optuna storage"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (["--min-speedup", "-1"], "--min-speedup is a ratio to the plain int8 export (0 or more), got -1.0"),
        (["--recipes", "/no/such/dir"], "--recipes /no/such/dir is not a directory"),
    ],
)
def test_bad_run_input(tmp_path, tiny_trained_model, run_dataset, extra, message):
    result = CliRunner().invoke(cli, run_args(tiny_trained_model, run_dataset, tmp_path / "r", *extra))
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.rstrip().splitlines()[-1].startswith("error:")


@pytest.mark.parametrize(
    "message",
    [
        "(sqlite3.OperationalError) table studies already exists",
        "(sqlite3.IntegrityError) UNIQUE constraint failed: alembic_version.version_num",
    ],
)
def test_a_worker_that_loses_the_schema_race_retries_and_loads_the_study(tmp_path, monkeypatch, message):
    """Two workers starting on one new SQLite file both create its schema; the loser's first attempt fails with one
    of these (both seen here in two processes) and must load what the winner wrote, not stop with an error."""
    from edgebert.search import RunConfig, Search

    calls = []

    class Racing(optuna.storages.RDBStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)  # the winner's schema is in place ...
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError(message)  # ... and this worker saw its own attempt collide with it

    monkeypatch.setattr(optuna.storages, "RDBStorage", Racing)
    monkeypatch.setattr("edgebert.search_storage.time.sleep", lambda s: None)
    search = Search(RunConfig(target="x86", out=str(tmp_path), storage=f"sqlite:///{tmp_path / 'shared.db'}"))
    search.seeds, search.noise_points = [], 1.0
    search.identity = {"target": search.target.name, "model_sha256": "m", "dataset_sha256": "d", "space_sha256": "s"}
    study = search.study()
    assert len(calls) == 2 and study.study_name == "edgebert-" + search.target.name


@pytest.mark.parametrize(
    "verdicts, note",
    [
        (["no faster", "undecided"], "; dev is too small to decide trial 1 (+0.00 points, bound +1.10)"),
        (["undecided", "undecided"], "; dev is too small to decide trials 0 (+0.00 points, bound +1.10), 1 (+0.00"),
        (["no faster", "outside"], ""),
    ],
)
def test_a_run_that_exits_1_names_the_trials_dev_is_too_small_to_decide(verdicts, note):
    from edgebert.search import undecided_note

    rows = [{"trial": i, "verdict": v, "drop_points": 0.0, "upper_points": 1.1} for i, v in enumerate(verdicts)]
    assert undecided_note(rows).startswith(note) and bool(undecided_note(rows)) is bool(note)
