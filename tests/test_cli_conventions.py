"""CLI conventions every verb follows: examples in --help, --json on stdout, -q/-v, exit codes listed, loadable
TOML from `targets show --toml`, shipped recipes, export --precision, decimal MB, report extensions checked."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edgebert import errors
from edgebert.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def _commands(group: click.Group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path", [()] + list(_commands(cli)), ids=lambda p: " ".join(p) or "edgebert")
def test_every_help_has_examples_and_verbosity(path):
    result = invoke(*path, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    examples = result.output.split("Examples:")[1]
    assert f"edgebert {' '.join(path)}".strip() in examples  # the examples are of this very command
    cmd = cli
    for name in path:
        cmd = cmd.commands[name]
    if not isinstance(cmd, click.Group) or not path:
        assert "-q, --quiet" in result.output and "-v, --verbose" in result.output


def test_top_level_help_lists_every_exit_code():
    out = invoke("--help", env={"COLUMNS": "200"}).output.split("Exit codes:")[1]
    codes = {int(line.split()[0]) for line in out.strip().splitlines()}
    kinds = {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.EdgebertError)
    }
    assert kinds | {0, 130, 129, 143} == codes  # + Ctrl-C, SIGHUP, SIGTERM


@pytest.mark.parametrize(
    "args,check",
    [
        (
            ["targets", "list", "--json"],
            lambda d: {"x86-avx2", "cuda"} <= {t["name"] for t in d} and "fits_this_cpu" in d[0],
        ),
        (["targets", "show", "arm64", "--json"], lambda d: d["name"] == "arm64-pi4"),
        (["recipes", "list", "--json"], lambda d: "fast-x86" in {r["name"] for r in d}),
    ],
)
def test_json_is_a_single_document_on_stdout(args, check):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert check(json.loads(result.stdout))


def test_bench_json_and_quiet(tiny_fp32_bundle, tmp_path):
    result = invoke(
        "bench",
        tiny_fp32_bundle,
        "--batch-sizes",
        "1",
        "--seq-lens",
        "8",
        "--iterations",
        "3",
        "--warmup",
        "1",
        "--json",
        "-q",
        "--out",
        tmp_path / "r.json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc == json.loads((tmp_path / "r.json").read_text())
    assert "·" not in result.stderr and "synthetic batch" not in result.stderr  # -q: no steps, no progress bars
    cold = doc["cold_start"]
    assert cold["session_create_ms"] > 0 and cold["tokenizer_load_ms"] > 0 and cold["first_call_ms"] > 0
    assert cold["time_to_first_result_ms"] == pytest.approx(
        cold["session_create_ms"] + cold["tokenizer_load_ms"] + cold["first_call_ms"]
    )
    assert cold["first_call_workload"] == {"mode": "synthetic", "batch_size": 1, "seq_len": 8}
    # The report and the gate read a document with cold-start fields as before.
    assert invoke("report", tmp_path / "r.json", "--format", "json").exit_code == 0
    gate = invoke(
        "compare", tmp_path / "r.json", tmp_path / "r.json", "--json", "--allow-busy"
    )  # this test is about --json, not the load gate
    assert gate.exit_code == 0, gate.output
    assert json.loads(gate.stdout)["passed"] is True


def test_bench_screen_shows_cold_start_and_decimal_megabytes(tiny_fp32_bundle):
    result = invoke(
        "bench", tiny_fp32_bundle, "--batch-sizes", "1", "--seq-lens", "8", "--iterations", "3", env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "cold      session" in result.stdout and "to the first result" in result.stdout
    size = (tiny_fp32_bundle / "model.onnx").stat().st_size
    assert f"model {size / 1e6:.1f} MB" in result.stdout and "MiB" not in result.output


def test_verbosity_does_not_stick_between_commands(tiny_fp32_bundle):
    assert invoke("-q", "targets", "list").exit_code == 0
    result = invoke("bench", tiny_fp32_bundle, "--batch-sizes", "1", "--seq-lens", "8", "--iterations", "3")
    assert "verified" in result.stderr  # the step log is back without -q


@pytest.mark.parametrize("name", ["x86-avx2", "x86-avx512-vnni", "arm64-pi4", "arm64-pi5", "cuda"])
def test_targets_show_toml_is_a_loadable_file_even_on_a_narrow_terminal(tmp_path, name):
    from edgebert.targets import load_target

    result = invoke("targets", "show", name, "--toml", env={"COLUMNS": "30"})
    assert result.exit_code == 0, result.output
    path = tmp_path / "t.toml"
    path.write_text(result.stdout)
    assert load_target(str(path)) == load_target(name)


def test_recipe_by_name_and_show():
    from edgebert.compress.recipe import load_recipe_dict, resolve_recipe_path

    assert resolve_recipe_path("fast-x86") == ROOT / "benchmarks" / "recipes" / "fast-x86.toml"
    assert load_recipe_dict("fast-x86")["name"] == "fast-x86"
    assert invoke("recipes", "show", "fast-x86").stdout == (ROOT / "benchmarks/recipes/fast-x86.toml").read_text()
    bad = invoke("compress", "--recipe", "fast-arm", "--out", "x")
    assert bad.exit_code == 2 and "unknown recipe 'fast-arm'; shipped recipes: fast-x86" in bad.stderr


def test_the_wheel_ships_recipes_targets_and_py_typed_and_they_work_outside_a_checkout(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path, ROOT],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("edgebert-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"edgebert/py.typed", "edgebert/_recipes/fast-x86.toml", "edgebert/_targets/x86-avx2.toml"} <= names
    code = (
        "from edgebert.compress.recipe import load_recipe_dict, resolve_recipe_path; from edgebert.targets import load_target;"
        "print(resolve_recipe_path('fast-x86'), load_recipe_dict('fast-x86')['name'], load_target('pi5').name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(site / "edgebert/_recipes/fast-x86.toml"), "fast-x86", "arm64-pi5"]


def test_compress_help_does_not_show_stage_values_as_defaults():
    out = " ".join(invoke("compress", "--help").output.split())  # undo click's wrapping
    sparsity = out.split("--unstructured-sparsity FLOAT")[1].split(" --")[0]
    assert "(default:" not in sparsity and "turns the stage on" in sparsity and "0.5" in sparsity
    assert "(default: 0)" in out.split("--seed INTEGER")[1].split(" --")[0]  # top-level fields do have defaults


@pytest.mark.parametrize(
    "args,text",
    [
        (["--out", "x.pdf"], "ends in .pdf but the report is md"),
        (["--out", "x.md", "--format", "html"], "pass --format md or name it x.html"),
    ],
)
def test_report_refuses_an_out_of_another_format(tmp_path, monkeypatch, args, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text("{}")
    result = invoke("report", "r.json", *args)
    assert result.exit_code == 2 and result.stderr.count("error:") == 1 and text in result.stderr
    assert not list(tmp_path.glob("x.*"))


def test_export_precision_overrides_the_target_and_prints_json(tiny_trained_model, tiny_dataset, tmp_path):
    result = invoke(
        "export",
        "--target",
        "x86-avx512-vnni",
        "--model",
        tiny_trained_model,
        "--dataset",
        tiny_dataset,
        "--max-length",
        "32",
        "--precision",
        "fp32",
        "--out",
        tmp_path / "b",
        "--json",
        "-q",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["precision"] == "fp32" and doc["parity"]["passed"] and "config.json" in doc["files"]
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["target"]["quantization"]["mode"] == "none"


def test_export_precision_without_tolerances_is_one_line(tiny_trained_model, tiny_dataset, tmp_path):
    result = invoke(
        "export",
        "--target",
        "x86-avx2",
        "--model",
        tiny_trained_model,
        "--dataset",
        tiny_dataset,
        "--precision",
        "fp16",
        "--out",
        tmp_path / "b",
    )
    assert result.exit_code == 2 and "has no [parity.fp16] tolerances" in result.stderr
    assert not (tmp_path / "b").exists()


def test_with_precision_int8_on_a_float_target_uses_dynamic_per_channel():
    from edgebert.export.exporter import with_precision
    from edgebert.targets import load_target

    t = with_precision(load_target("cuda"), "int8")
    assert t.precision == "int8" and t.quantization.mode == "dynamic" and t.quantization.per_channel
    assert with_precision(load_target("x86-avx2"), "fp32").precision == "fp32"


@pytest.mark.parametrize(
    "args", [["-v", "targets", "show", "nope"], ["targets", "show", "nope", "-v"], ["-q", "targets", "show", "nope"]]
)
def test_verbosity_flags_go_before_or_after_the_verb_and_errors_stay_one_line(args):
    result = invoke(*args)
    assert result.exit_code == 2 and result.stderr.count("error:") == 1 and "unknown target 'nope'" in result.stderr
    assert "Traceback" not in result.output
