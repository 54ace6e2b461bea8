"""`edgebert compress` through the CLI: flags equal recipe files, and every bad input is one line, a non-zero exit,
and no output directory (not even a half-written one)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import build_model, make_rows, write_csv
from edgebert import bundle
from edgebert.cli import cli


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("cli-data") / "train.csv", make_rows(300, seed=4))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_model(tmp_path_factory.mktemp("cli-model") / "m", "bert")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_line_error(result, *words, code=2):
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for word in words:
        assert word in lines[0]


def assert_nothing_written(out: Path):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial")]


def test_flags_build_the_same_recipe_as_a_file(model_dir, train_csv, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'name = "r"\nmax_length = 32\n[prune_structured]\nheads_ratio = 0.5\nsamples = 32\n'
        '[quantize]\nmode = "dynamic"\nper_channel = false\n'
    )
    from_file = run(
        "compress", "--model", model_dir, "--dataset", train_csv, "--recipe", recipe, "--out", tmp_path / "a"
    )
    assert from_file.exit_code == 0, from_file.output
    from_flags = run(
        "compress",
        "--model",
        model_dir,
        "--dataset",
        train_csv,
        "--name",
        "r",
        "--max-length",
        32,
        "--prune-heads-ratio",
        0.5,
        "--prune-samples",
        32,
        "--quantize-mode",
        "dynamic",
        "--no-quantize-per-channel",
        "--out",
        tmp_path / "b",
    )
    assert from_flags.exit_code == 0, from_flags.output
    a, b = bundle.read_manifest(tmp_path / "a"), bundle.read_manifest(tmp_path / "b")
    assert a["recipe"] == b["recipe"]
    assert a["parameters"] == b["parameters"] < a["source"]["parameters"]
    assert "prune_structured" in from_file.output and "wrote" in from_file.output


def test_flags_override_the_recipe_file(model_dir, train_csv, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[quantize]\nmode = "dynamic"\n')
    result = run(
        "compress",
        "--model",
        model_dir,
        "--dataset",
        train_csv,
        "--recipe",
        recipe,
        "--quantize-mode",
        "static",
        "--quantize-calibration-samples",
        16,
        "--out",
        tmp_path / "o",
    )
    assert result.exit_code == 0, result.output
    m = bundle.read_manifest(tmp_path / "o")
    assert m["quantization"]["mode"] == "static" and m["quantization"]["calibration_samples"] == 16
    assert m["recipe"]["name"] == "r"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--prune-heads-ratio", "1.0"], ["heads_ratio", "[0, 1)"]),
        (["--prune-ffn-ratio", "-0.2"], ["ffn_ratio", "[0, 1)"]),
        (["--unstructured-sparsity", "1"], ["sparsity", "[0, 1)"]),
        (["--prune-heads-ratio", "0.9"], ["every head of layer 0", "4 heads"]),
        (["--prune-layers-ratio", "0.8"], ["all 2 layers"]),
        (["--share-group-size", "3"], ["group_size", "2 layers"]),
        ([], ["no compression stage"]),
    ],
)
def test_bad_settings_fail_before_any_work(model_dir, train_csv, tmp_path, args, words):
    out = tmp_path / "out"
    assert_one_line_error(run("compress", "--model", model_dir, "--dataset", train_csv, "--out", out, *args), *words)
    assert_nothing_written(out)


def test_recipe_with_unknown_keys_names_them(model_dir, train_csv, tmp_path):
    recipe = tmp_path / "typo.toml"
    recipe.write_text("[prune_structured]\nhead_ratio = 0.5\nffn_ration = 0.5\n[distil]\nsteps = 3\n")
    out = tmp_path / "out"
    result = run("compress", "--model", model_dir, "--dataset", train_csv, "--recipe", recipe, "--out", out)
    assert_one_line_error(result, "typo.toml", "unknown key", "distil")
    assert_nothing_written(out)
    recipe.write_text("[prune_structured]\nhead_ratio = 0.5\nffn_ration = 0.5\n")
    result = run("compress", "--model", model_dir, "--dataset", train_csv, "--recipe", recipe, "--out", out)
    assert_one_line_error(result, "prune_structured.ffn_ration", "prune_structured.head_ratio")


def test_teacher_with_another_label_set_is_refused(model_dir, train_csv, tmp_path):
    teacher = build_model(tmp_path / "teacher", "bert")
    cfg = json.loads((teacher / "config.json").read_text())
    cfg["id2label"], cfg["label2id"] = {"0": "rotten", "1": "fresh"}, {"rotten": 0, "fresh": 1}
    (teacher / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "out"
    result = run(
        "compress",
        "--model",
        model_dir,
        "--dataset",
        train_csv,
        "--prune-heads-ratio",
        0.5,
        "--distill-steps",
        2,
        "--distill-teacher",
        teacher,
        "--out",
        out,
    )
    assert_one_line_error(result, "teacher", "same label set")
    assert_nothing_written(out)


@pytest.mark.parametrize("args", [["--distill-steps", "2"], ["--prune-heads-ratio", "0.5"]])
def test_training_stages_without_data_are_refused(model_dir, tmp_path, args):
    """A plain Hugging Face model has no task record: without --dataset there is nothing to train or measure on."""
    out = tmp_path / "out"
    assert_one_line_error(
        run("compress", "--model", model_dir, "--out", out, *args), "needs training data", "--dataset"
    )
    assert_nothing_written(out)


def test_existing_output_needs_force(model_dir, train_csv, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert_one_line_error(
        run("compress", "--model", model_dir, "--dataset", train_csv, "--quantize-mode", "dynamic", "--out", out),
        "--force",
    )
    assert (out / "keep.txt").read_text() == "x"


def test_missing_model_and_recipe_are_one_line_errors(tmp_path):
    assert_one_line_error(
        run("compress", "--model", tmp_path / "nope", "--quantize-mode", "dynamic", "--out", tmp_path / "o"),
        "does not exist",
    )
    assert_one_line_error(run("compress", "--recipe", tmp_path / "nope.toml"), "does not exist")
