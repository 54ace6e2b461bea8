"""The task notion: detection from a model directory, --task checked against it, manifests and results documents
recording the task, and report/compare showing and gating on the task's primary metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebert import task_types
from edgebert.cli import cli
from edgebert.errors import UserError
from report_fixtures import make_results, write_results


def _dir(tmp_path: Path, files: dict[str, object]) -> Path:
    d = tmp_path / "m"
    for name, content in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return d


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"modules.json": [], "config.json": {"architectures": ["BertModel"]}}, "sentence-embedding"),
        ({"config.json": {"architectures": ["BertForTokenClassification"]}}, "token-classification"),
        ({"config.json": {"architectures": ["RobertaForSequenceClassification"]}}, "sequence-classification"),
        ({"config.json": {"architectures": ["BertModel"]}}, None),
        ({"config.json": {}}, None),
        ({"config.json": "{not json"}, None),
        ({}, None),
        # an edgebert manifest wins over what the files look like; old manifests are classifiers
        ({"manifest.json": {"kind": "bundle", "task_type": "sentence-embedding"}}, "sentence-embedding"),
        (
            {"manifest.json": {"kind": "model"}, "config.json": {"architectures": ["BertForTokenClassification"]}},
            "sequence-classification",
        ),
    ],
)
def test_detect(tmp_path, files, expected):
    found, why = task_types.detect(_dir(tmp_path, files))
    assert found == expected
    assert why


def test_resolve_uses_the_request_only_where_the_directory_is_silent(tmp_path):
    silent = _dir(tmp_path, {"config.json": {"architectures": ["BertModel"]}})
    assert task_types.resolve(silent, None).name == "sequence-classification"
    assert task_types.resolve(silent, "sentence-embedding").name == "sentence-embedding"
    assert task_types.resolve(None, "token-classification").name == "token-classification"
    with pytest.raises(UserError, match="unknown task 'nope'"):
        task_types.resolve(silent, "nope")


@pytest.mark.parametrize(
    "files, requested",
    [
        ({"modules.json": []}, "sequence-classification"),
        ({"config.json": {"architectures": ["BertForSequenceClassification"]}}, "sentence-embedding"),
        ({"config.json": {"architectures": ["BertForTokenClassification"]}}, "sentence-embedding"),
        ({"manifest.json": {"kind": "bundle"}}, "token-classification"),
    ],
)
def test_a_request_that_contradicts_the_model_is_refused(tmp_path, files, requested):
    d = _dir(tmp_path, files)
    with pytest.raises(UserError) as err:
        task_types.resolve(d, requested)
    assert f"--task {requested} contradicts" in str(err.value) and "\n" not in str(err.value)


def test_a_manifest_naming_an_unknown_task_is_one_line(tmp_path):
    d = _dir(tmp_path, {"manifest.json": {"kind": "bundle", "task_type": "speech"}})
    with pytest.raises(UserError, match="a task this edgebert does not know"):
        task_types.resolve(d, None)


@pytest.mark.parametrize("verb", ["export", "compress"])
def test_cli_task_contradicting_the_model_is_one_line_and_writes_nothing(tmp_path, tiny_trained_model, verb):
    out = tmp_path / "out"
    args = [verb, "--model", str(tiny_trained_model), "--task", "sentence-embedding", "--out", str(out)]
    if verb == "export":
        args += ["--target", "x86"]
    else:
        args += ["--prune-heads-ratio", "0.5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    # compress's progress bars print a blank line first
    assert result.output.strip().startswith("error: --task sentence-embedding contradicts")
    assert result.output.strip().count("\n") == 0
    assert not out.exists()


def test_bench_task_contradicting_the_bundle_is_one_line(tiny_fp32_bundle):
    result = CliRunner().invoke(cli, ["bench", str(tiny_fp32_bundle), "--task", "sentence-embedding"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --task sentence-embedding contradicts")


def test_classifier_bundle_and_results_record_the_task(tiny_fp32_bundle, tmp_path):
    from edgebert.bench.runner import bench_bundle
    from edgebert.bundle import read_manifest

    manifest = read_manifest(tiny_fp32_bundle)
    assert manifest["task_type"] == "sequence-classification" and manifest["outputs"] == ["logits"]
    doc = bench_bundle(tiny_fp32_bundle, batch_sizes=[1], seq_lens=[8], iterations=2, warmup=1)
    acc = doc["accuracy"]
    assert acc["task_type"] == "sequence-classification" and acc["metric"] == "accuracy"
    assert acc["metric_value"] == acc["accuracy"]


def embedding_results(variant: str, spearman: float) -> dict:
    """A results document of a sentence-embedding bundle: the classifier fixture with an embedding quality section."""
    doc = make_results(variant)
    doc["accuracy"] = {
        "task_type": "sentence-embedding",
        "metric": "spearman",
        "metric_value": spearman,
        "dataset": "rotten-tomatoes:test",
        "dataset_sha256": doc["accuracy"]["dataset_sha256"],
        "size": 1275,
        "accuracy": None,
        "spearman": spearman,
        "probe_accuracy": 0.78,
        "agreement_with_reference": 0.9,
    }
    return doc


def test_report_shows_the_tasks_metric(tmp_path):
    paths = [
        write_results(tmp_path, "fp32.json", embedding_results("fp32", 0.8123)),
        write_results(tmp_path, "int8.json", embedding_results("int8", 0.8071)),
    ]
    result = CliRunner().invoke(cli, ["report", *map(str, paths)])
    assert result.exit_code == 0, result.output
    assert "Spearman (Lee)" in result.output and "Δ Spearman (Lee)" in result.output
    assert "0.812" in result.output and "0.807" in result.output and "-0.5 pts" in result.output
    assert "| Accuracy |" not in result.output
    assert "### Quality" in result.output and "78.0%" in result.output  # the probe, beside the primary metric


def test_html_report_labels_the_chart_with_the_tasks_metric(tmp_path):
    paths = [
        write_results(tmp_path, "fp32.json", embedding_results("fp32", 0.8123)),
        write_results(tmp_path, "int8.json", embedding_results("int8", 0.8071)),
    ]
    result = CliRunner().invoke(cli, ["report", *map(str, paths), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert "Spearman (Lee) (x100)" in result.output and "accuracy (%)" not in result.output
    assert "<h2>Quality</h2>" in result.output and "78.0%" in result.output


@pytest.mark.parametrize("drop, code", [("0.6", 0), ("0.4", 1)])
def test_compare_gates_on_the_primary_metric(tmp_path, drop, code):
    base = write_results(tmp_path, "a.json", embedding_results("fp32", 0.8123))
    cand = write_results(tmp_path, "b.json", embedding_results("fp32", 0.8071))
    result = CliRunner().invoke(
        cli, ["compare", str(base), str(cand), "--max-accuracy-drop", drop, "--max-latency-regression", "50%"]
    )
    assert result.exit_code == code, result.output
    assert "Spearman (Lee) (x100)" in result.output and "81.23" in result.output and "81.23%" not in result.output


def test_results_of_different_task_types_are_not_set_side_by_side(tmp_path):
    a = write_results(tmp_path, "a.json", make_results("fp32"))
    b = write_results(tmp_path, "b.json", embedding_results("fp32", 0.8))
    result = CliRunner().invoke(cli, ["report", str(a), str(b)])
    assert result.exit_code == 2 and "different task types" in result.output


@pytest.mark.parametrize(
    "change, message",
    [
        ({"spearman": None, "metric_value": None}, "field spearman is missing"),
        ({"task_type": "speech"}, "task_type 'speech' is unknown"),
        ({"metric": "accuracy"}, "not the primary metric"),
        ({"spearman": 1.5, "metric_value": None}, "from -1 to 1"),
        ({"metric_value": 0.1}, "differs from spearman"),
    ],
)
def test_a_bad_quality_section_is_one_line(tmp_path, change, message):
    doc = embedding_results("fp32", 0.8)
    doc["accuracy"].update(change)
    path = write_results(tmp_path, "a.json", doc)
    result = CliRunner().invoke(cli, ["report", str(path)])
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.strip().count("\n") == 0


def test_old_results_without_a_task_are_classification():
    doc = make_results("fp32")
    assert "task_type" not in doc["accuracy"]
    assert task_types.of_quality(doc["accuracy"]).name == "sequence-classification"
    assert task_types.primary_value(doc["accuracy"]) == doc["accuracy"]["accuracy"]


@pytest.mark.parametrize(
    "files, kind",
    [
        ({"modules.json": "[]", "config.json": '{"model_type": "bert"}'}, "sentence-embedding"),
        (
            {"config.json": '{"model_type": "bert", "architectures": ["BertForTokenClassification"]}'},
            "token-classification",
        ),
    ],
)
def test_run_refuses_an_unreadable_model_of_another_task_before_writing_anything(tmp_path, files, kind):
    """`edgebert run` searches every task now (tests/test_search_run.py); a directory its task cannot read (an empty
    sentence-transformers layout, a token classifier without weights) is still one line with nothing written."""
    model = tmp_path / "model"
    model.mkdir()
    for name, text in files.items():
        (model / name).write_text(text)
    out = tmp_path / "runs" / "x86"
    result = CliRunner().invoke(cli, ["run", "--target", "x86", "--model", str(model), "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(model) in errors[0] and "Traceback" not in result.output
    assert not out.exists() and not out.parent.exists()
