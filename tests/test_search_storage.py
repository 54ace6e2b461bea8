"""Where a search's study lives: passwords masked in every message, bad URLs as one line, a study made for other
inputs refused on resume; and the seeds the study starts from, read from the shipped recipe files."""

import tomllib

import optuna
import pytest
from click.testing import CliRunner

from edgebert.cli import cli
from edgebert.errors import UserError
from edgebert.search_space import SearchSpace, recipe_for, recipes_dir, shipped_seeds
from edgebert.search_storage import check_identity, mask_url, open_study, scrub


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    "url,masked",
    [
        (
            "postgresql+psycopg2://alice:s3cr%40t@db.example:5432/optuna",
            "postgresql+psycopg2://alice:***@db.example:5432/optuna",
        ),
        ("postgresql://postgres:@/postgres?host=/tmp/pg", "postgresql://postgres:@/postgres?host=/tmp/pg"),
        (
            "postgresql://bob@db/optuna?sslmode=require&password=hunter2",
            "postgresql://bob@db/optuna?sslmode=require&password=***",
        ),
        ("mysql+pymysql://u:p@h/d and again mysql://v:q@h/d", "mysql+pymysql://u:***@h/d and again mysql://v:***@h/d"),
        ("sqlite:////tmp/runs/x86/study.db", "sqlite:////tmp/runs/x86/study.db"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_scrub_removes_a_password_a_driver_repeats_without_the_url():
    url = "postgresql://alice:hunter2@db/optuna"
    assert (
        scrub("auth failed for 'hunter2' at postgresql://alice:hunter2@db/optuna", url)
        == "auth failed for '***' at postgresql://alice:***@db/optuna"
    )


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "postgresql+psycopg2://alice:hunter2@/optuna?host=/no/such/socket/dir",
        "nosuchdialect://alice:hunter2@h/db",
    ],
)
def test_a_bad_or_unreachable_storage_is_one_line_without_the_password(url):
    with pytest.raises(UserError) as err:
        open_study(url, "s", lambda: None, lambda: None, attempts=1)
    message = str(err.value)
    assert "hunter2" not in message and "\n" not in message
    assert "storage" in message


def test_the_cli_masks_the_password_of_an_unreachable_storage(tmp_path, tiny_trained_model, tiny_dataset):
    url = "postgresql+psycopg2://alice:hunter2@/optuna?host=/no/such/socket/dir"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--target",
            "x86",
            "--model",
            str(tiny_trained_model),
            "--dataset",
            str(tiny_dataset),
            "--out",
            str(tmp_path / "r"),
            "--storage",
            url,
        ],
    )
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: cannot open the Optuna storage"), result.output
    assert "hunter2" not in result.output and "alice:***@" in result.output


IDENTITY = {"target": "x86-avx512-vnni", "model_sha256": "a" * 64, "dataset_sha256": "d1", "space_sha256": "s1"}


@pytest.mark.parametrize("field", ["target", "model_sha256", "dataset_sha256", "space_sha256"])
def test_a_study_made_for_other_inputs_is_refused(field):
    study = optuna.create_study()
    check_identity(study, IDENTITY, "study 's'")  # a new study records what it searches
    check_identity(study, dict(IDENTITY), "study 's'")  # the same inputs resume
    with pytest.raises(UserError, match=field.replace("_sha256", "")):
        check_identity(study, dict(IDENTITY, **{field: "b" * 64}), "study 's' in postgresql://u:pw@h/db")


def test_a_run_directory_or_study_made_for_another_target_is_refused(tmp_path, tiny_trained_model, tiny_dataset):
    """Resuming by path alone would report old baselines and trials under a new target: refused in one line, exit 2,
    before anything is built; the same for another run directory sharing the study through --storage."""
    from edgebert.search import RunConfig, Search

    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    first = Search(
        RunConfig(
            target="x86",
            model=str(tiny_trained_model),
            dataset=str(tiny_dataset),
            out=str(tmp_path / "r"),
            storage=storage,
            study_name="shared",
        )
    )
    first.prepare()
    first.study()
    for out in ("r", "other"):
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--target",
                "arm64",
                "--model",
                str(tiny_trained_model),
                "--dataset",
                str(tiny_dataset),
                "--out",
                str(tmp_path / out),
                "--storage",
                storage,
                "--study-name",
                "shared",
            ],
        )
        assert result.exit_code == 2, result.output
        assert len(error_lines(result)) == 1 and result.output.rstrip().splitlines()[-1].startswith("error: ")
        assert "another target x86-avx512-vnni (now arm64" in result.output
        assert not (tmp_path / out / "baselines").exists()


def test_seeds_are_read_from_the_shipped_recipe_files():
    seeds, notes = shipped_seeds(6)
    names = [n for n, _ in seeds]
    assert [p["distill_steps"] for _, p in seeds] == sorted(p["distill_steps"] for _, p in seeds)  # cheapest first
    files = {p.stem: tomllib.loads(p.read_text()) for p in recipes_dir().glob("*.toml")}
    for name, params in seeds:
        f = files[name]
        ps = f.get("prune_structured", {})
        assert params["layers_kept"] == 6 - round(ps.get("layers_ratio", 0) * 6)
        assert params["heads_ratio"] == ps.get("heads_ratio", 0) and params["ffn_ratio"] == ps.get("ffn_ratio", 0)
        assert params["distill_steps"] == f.get("distill", {}).get("steps", 0)
        assert params["quantization"].startswith(f["quantize"]["mode"])
    # recipes the space cannot express are named, not silently dropped or approximated
    assert {n for n in files if n not in names} == {n.split()[1] for n in notes}
    assert "fast-x86" in names and any("shared-pairs" in n and "share" in n for n in notes)
    # fast-x86-long: fast-x86 distilled 3,000 steps, longer than the study's longest fidelity; a seed runs first
    assert "fast-x86-long" not in names and any("fast-x86-long" in n and "longest fidelity" in n for n in notes)


def test_a_recipe_distilled_longer_than_the_longest_fidelity_is_not_a_seed(tmp_path):
    base = (recipes_dir() / "fast-x86.toml").read_text()
    longest = max(SearchSpace.distill_steps)
    for steps in (longest, longest + 1):
        (tmp_path / f"s{steps}.toml").write_text(base.replace("steps = 1000", f"steps = {steps}"))
    seeds, notes = shipped_seeds(6, tmp_path)
    assert [(n, p["distill_steps"]) for n, p in seeds] == [(f"s{longest}", longest)]
    assert notes == [
        f"recipe s{longest + 1} is not a seed: its {longest + 1} distillation steps are more than the study's longest fidelity ({longest})"
    ]


def test_the_space_is_more_than_the_seeds():
    seeds, _ = shipped_seeds(6)
    space = SearchSpace.for_model(6, [p for _, p in seeds])
    assert (
        set(space.layers_kept) >= {6, 5, 4, 3, 2} and {0.75} <= set(space.heads_ratio) and len(space.learning_rate) >= 3
    )
    assert set(space.quantization) == {
        "dynamic-per-channel",
        "dynamic-per-tensor",
        "static-per-channel",
        "static-per-tensor",
    }
    assert 1.0 in space.hidden_weight
    r_params = {
        "layers_kept": 3,
        "heads_ratio": 0.5,
        "ffn_ratio": 0.25,
        "distill_steps": 600,
        "learning_rate": 4e-4,
        "hidden_weight": 1.0,
        "quantization": "static-per-tensor",
    }
    r = recipe_for(r_params, 6, seed=7)
    assert r["prune_structured"] == {"heads_ratio": 0.5, "ffn_ratio": 0.25, "layers_ratio": 0.5} and r["seed"] == 7
    assert r["distill"] == {"steps": 600, "learning_rate": 4e-4, "hidden_weight": 1.0}
    assert r["quantize"] == {"mode": "static", "per_channel": False}
    # the distillation's precision is the machine's (cpu.trains_in_bf16), written only when it is not fp32
    bf16 = recipe_for({**r_params, "distill_steps": 300}, 6, precision="bf16")
    assert bf16["distill"]["precision"] == "bf16" and bf16["distill"]["steps"] == 300
