"""`edgebert run` on a tiny model: the search, its report, resuming, Ctrl-C, two workers on one study."""
import json
import subprocess
import sys

import optuna
import pytest
from click.testing import CliRunner

from conftest import make_rows, write_csv
from edgebert.cli import cli
from edgebert.search import choose, recipe_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dataset(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("run") / "data.csv", make_rows(800, seed=3))


def run_args(model, dataset, out, *extra):
    return ["run", "--target", "x86", "--model", str(model), "--dataset", str(dataset), "--out", str(out),
            "--budget-minutes", "10", *map(str, extra)]


def test_run_writes_report_and_keeps_every_trial(tmp_path, tiny_trained_model, run_dataset):
    out = tmp_path / "r"
    result = CliRunner().invoke(cli, run_args(tiny_trained_model, run_dataset, out, "--trials", 2, "--max-accuracy-drop", 100))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chosen"]["within_budget"] and len(summary["trials"]) == 2
    assert summary["front"], "the Pareto front is reported"
    for t in summary["trials"]:
        assert t["state"] == "COMPLETE"
        trial_dir = out / "trials" / f"{t['trial']:03d}"
        assert (trial_dir / "bundle" / "manifest.json").is_file() and (trial_dir / "dev-results.json").is_file()
    md = (out / "report.md").read_text()
    assert "Chosen: trial" in md and "faster than the plain int8 export" in md and "```toml" in md
    html = (out / "report.html").read_text()
    assert "<svg" in html and "Pareto" in html
    # each trial's distillation is bounded by what was left of the 10-minute budget when it started
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{out / 'study.db'}")
    bounds = [t.user_attrs["recipe"]["distill"]["minutes"] for t in study.trials if "distill" in t.user_attrs["recipe"]]
    assert bounds and all(0 < m <= 10 - 1.5 for m in bounds)
    # the test split is only used at the end: trials are scored on dev
    dev = json.loads((out / "trials" / "000" / "dev-results.json").read_text())
    assert dev["accuracy"]["size"] == 80


def test_a_spent_budget_still_runs_one_unbounded_trial(tmp_path, tiny_trained_model, run_dataset):
    out = tmp_path / "r"
    args = run_args(tiny_trained_model, run_dataset, out, "--trials", 3, "--max-accuracy-drop", 100)
    args[args.index("--budget-minutes") + 1] = "0.01"  # spent by the baselines
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 1
    assert "minutes" not in study.trials[0].user_attrs["recipe"].get("distill", {})


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
    first = CliRunner().invoke(cli, run_args(tiny_trained_model, run_dataset, out, "--trials", 2, "--max-accuracy-drop", 100))
    assert first.exit_code == 130, first.output
    finished = (out / "trials" / "000" / "dev-results.json")
    assert finished.is_file()
    stamp = finished.stat().st_mtime_ns
    monkeypatch.setattr(recipe, "compress_model", real)
    second = CliRunner().invoke(cli, run_args(tiny_trained_model, run_dataset, out, "--trials", 2, "--max-accuracy-drop", 100))
    assert second.exit_code == 0, second.output
    assert finished.stat().st_mtime_ns == stamp  # trial 0 was not redone
    summary = json.loads((out / "summary.json").read_text())
    states = sorted(t["state"] for t in summary["trials"])
    assert states.count("COMPLETE") >= 1 and len(summary["trials"]) >= 2


def test_two_workers_share_one_sqlite_study(tmp_path, tiny_trained_model, run_dataset):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [subprocess.Popen([sys.executable, "-m", "edgebert.cli", *run_args(tiny_trained_model, run_dataset, tmp_path / f"w{i}",
                                                                               "--trials", 4, "--storage", storage, "--max-accuracy-drop", 100)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=1200)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    study = optuna.load_study(study_name=None, storage=storage)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))  # no duplicate, no gap
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) >= 4
    for t in complete:  # each finished trial's evidence exists in the worker that ran it
        assert (tmp_path / t.user_attrs["dir"]).joinpath("dev-results.json").is_file()


def test_choose_fastest_within_budget_else_closest():
    study = optuna.create_study(directions=["minimize", "maximize", "minimize"])
    for lat, acc in ((10.0, 0.90), (5.0, 0.89), (3.0, 0.80)):
        study.add_trial(optuna.trial.create_trial(params={"x": 1}, distributions={"x": optuna.distributions.CategoricalDistribution([1])},
                                                  values=[lat, acc, 1.0], user_attrs={"bundle": "b"}))
    best, front = choose(study, fp32_accuracy=0.90, max_drop_points=1.0)
    assert best.latency_ms == 5.0 and best.within_budget
    assert [c.latency_ms for c in front] == [3.0, 5.0, 10.0]
    closest, _ = choose(study, fp32_accuracy=0.95, max_drop_points=1.0)
    assert closest.accuracy == 0.90 and not closest.within_budget


def test_recipe_for_maps_params_to_compress_stages():
    r = recipe_for({"layers_kept": 3, "heads_ratio": 0.5, "ffn_ratio": 0.25, "distill_steps": 150, "quantization": "static-qdq"}, 6)
    assert r["prune_structured"] == {"heads_ratio": 0.5, "ffn_ratio": 0.25, "layers_ratio": 0.5}
    assert r["distill"]["steps"] == 150 and r["quantize"]["mode"] == "static"
    plain = recipe_for({"layers_kept": 6, "heads_ratio": 0.0, "ffn_ratio": 0.0, "distill_steps": 0, "quantization": "dynamic-per-channel"}, 6)
    assert set(plain) == {"name", "seed", "max_length", "quantize"}


@pytest.mark.parametrize("extra,message", [
    (["--trials", "0"], "--trials must be at least 1"),
    (["--budget-minutes", "0"], "--budget-minutes must be more than 0"),
    (["--storage", "sqlite:////no/such/dir/study.db"], "cannot open the Optuna storage"),
])
def test_bad_run_input(tmp_path, tiny_trained_model, run_dataset, extra, message):
    result = CliRunner().invoke(cli, run_args(tiny_trained_model, run_dataset, tmp_path / "r", *extra))
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.startswith("error:")


@pytest.mark.parametrize("message", ["(sqlite3.OperationalError) table studies already exists",
                                     "(sqlite3.IntegrityError) UNIQUE constraint failed: alembic_version.version_num"])
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
    monkeypatch.setattr("edgebert.search.time.sleep", lambda s: None)
    search = Search(RunConfig(target="x86", out=str(tmp_path), storage=f"sqlite:///{tmp_path / 'shared.db'}"))
    search.num_layers = 6
    study = search.study()
    assert len(calls) == 2 and study.study_name == "edgebert-" + search.target.name
