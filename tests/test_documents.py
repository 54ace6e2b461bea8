"""Typed documents validated at the boundary: results files, targets, recipes and run configs go through one
`config.from_dict`, and a value out of its range is a one-line error naming the field (exit code 2 on the CLI)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from edgebert.cli import cli
from edgebert.compress.recipe import load_recipe, recipe_from_dict
from edgebert.config import dumps_toml, from_dict, to_dict
from edgebert.errors import ConfigError, UserError
from edgebert.report import load_results
from edgebert.report.results import BenchResults, ResultsError, parse_results
from edgebert.search import RunConfig
from edgebert.targets import load_target, load_target_file, parse_target
from report_fixtures import make_results, write_results


def cli_error(*args) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


def set_field(doc: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(last) if last.isdigit() else last] = value
    return doc


def without_nulls(value):
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return [without_nulls(v) for v in value] if isinstance(value, list) else value


# --- the compare gate cannot be fooled by an invalid document ----------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("latency.0.p50_ms", 0, "field latency[0].p50_ms must be > 0, got 0"),
        ("latency.0.p50_ms", -7.7, "field latency[0].p50_ms must be > 0, got -7.7"),
        ("latency.1.p99_ms", -1, "field latency[1].p99_ms must be > 0"),
        ("latency.2.samples_ms", [5.0, -1.0], "field latency[2].samples_ms[1] must be > 0"),
        ("latency.0.throughput_seq_s", 0.0, "field latency[0].throughput_seq_s must be > 0"),
        ("accuracy.accuracy", -0.5, "field accuracy.accuracy must be >= 0"),
        ("accuracy.accuracy", 82.5, "field accuracy.accuracy must be <= 1"),  # a percentage where a fraction belongs
        ("accuracy.agreement_with_reference", 1.01, "field accuracy.agreement_with_reference must be <= 1"),
        ("accuracy.macro_f1", -0.1, "field accuracy.macro_f1 must be >= 0"),
    ],
)
@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_compare_refuses_out_of_range_documents(tmp_path, field, value, message, side):
    # Before: a baseline p50 of 0 or below made any candidate's change 0% (or negative), so a 100x slower
    # candidate passed the gate with exit code 0.
    base, cand = make_results("fp32"), make_results("fp32", scale=100.0)
    set_field(base if side == "baseline" else cand, field, value)
    err = cli_error("compare", write_results(tmp_path, "b.json", base), write_results(tmp_path, "c.json", cand))
    assert message in err and f"{side[0]}.json" in err


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("latency.0.p50_ms", "7.7", 'field latency[0].p50_ms must be a number, got "7.7"'),
        ("size.model_bytes", "90MB", 'field size.model_bytes must be an integer, got "90MB"'),
        ("accuracy.accuracy", "0.82", 'field accuracy.accuracy must be a number, got "0.82"'),
        ("settings.threads", 0, "field settings.threads must be >= 1"),
        ("environment.threads", 100_000, "field environment.threads must be <= 1024"),
        ("bundle.label", 3, "field bundle.label must be a string, got 3"),
        ("bundle.parameters", -1, "field bundle.parameters must be >= 0"),
        ("latency.0.batch_size", 0, "field latency[0].batch_size must be >= 1"),
        ("latency.0.samples_ms", [], "latency[0]: samples_ms holds 0 calls but iterations says 100"),
        ("latency", {"p50_ms": 1}, "field latency must be a list, got dict"),
        ("accuracy", [0.8], "field accuracy must be a table, got list"),
        ("bundle.weird\nkey", 1, None),  # an unknown key passes through (see the next test); never a second line
    ],
)
def test_results_values_of_the_wrong_type_or_range_are_one_line(tmp_path, field, value, message):
    doc = set_field(make_results("int8"), field, value)
    path = write_results(tmp_path, "r.json", doc)
    if message is None:
        load_results(path)
        return
    with pytest.raises(ResultsError, match="^" + str(path)) as info:
        load_results(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2


def test_results_keep_unknown_fields_and_round_trip(tmp_path):
    doc = make_results("pruned")
    doc["from_the_future"] = {"x": 1}
    doc["environment"]["gpu"] = "none"
    doc["latency"][0]["p95_ms"] = 4.2
    run = load_results(write_results(tmp_path, "r.json", doc))
    typed = run.results
    assert isinstance(typed, BenchResults)
    assert typed.extra["from_the_future"] == {"x": 1} and typed.environment.extra["gpu"] == "none"
    assert typed.latency[0].extra["p95_ms"] == 4.2 and typed.latency[0].p50_ms == doc["latency"][0]["p50_ms"]
    assert typed.accuracy.accuracy == doc["accuracy"]["accuracy"] and typed.bundle.stages == (
        "prune_heads",
        "prune_ffn",
    )
    assert run.doc == doc  # the reports still display every pass-through field as read
    # to_dict gives back every field of the document (null optional fields aside), unknown ones included.
    again = json.loads(json.dumps(to_dict(typed, keep_none=True)))
    assert without_nulls(again) == without_nulls(doc)
    assert to_dict(parse_results(again, tmp_path / "again.json"), keep_none=True) == again


def test_a_null_accuracy_is_allowed_but_a_missing_one_is_not(tmp_path):
    doc = make_results("fp32")
    doc["accuracy"] = None
    assert load_results(write_results(tmp_path, "r.json", doc)).results.accuracy is None
    del doc["accuracy"]
    with pytest.raises(ResultsError, match="field accuracy is missing"):
        load_results(write_results(tmp_path, "r.json", doc))


# --- targets -------------------------------------------------------------------------------------------------------


def _target() -> dict:
    return load_target("x86-avx512-vnni").to_dict()


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["runtime"].__setitem__("intra_op_threads", 100_000),
            "field runtime.intra_op_threads must be <= 1024",
        ),
        (
            lambda d: d["runtime"].__setitem__("intra_op_threads", "4"),
            'field runtime.intra_op_threads must be an integer, got "4"',
        ),
        (lambda d: d["parity"]["int8"].__setitem__("max_abs_logit_diff", float("nan")), "must be a finite number"),
        (lambda d: d["parity"]["int8"].__setitem__("max_abs_logit_diff", float("inf")), "must be a finite number"),
        (
            lambda d: d["parity"]["int8"].__setitem__("max_abs_logit_diff", "0.5"),
            "field parity.int8.max_abs_logit_diff must be a number",
        ),
        (
            lambda d: d["parity"]["int8"].__setitem__("min_label_agreement", 97),
            "field parity.int8.min_label_agreement must be <= 1",
        ),
        (lambda d: d.__setitem__("name", "../../etc"), "may use only letters, digits"),
        (lambda d: d.__setitem__("name", "a/b"), "may use only letters, digits"),
        (lambda d: d.__setitem__("name", ".hidden"), "may use only letters, digits"),
        (lambda d: d.__setitem__("description", 5), "field description must be a string, got 5"),
    ],
)
def test_bad_target_values_are_one_line(tmp_path, edit, message):
    d = _target()
    edit(d)
    with pytest.raises(ConfigError, match="^") as info:
        parse_target(d, "t.toml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_non_utf8_target_file_is_one_line(tmp_path):
    path = tmp_path / "t.toml"
    path.write_bytes(dumps_toml(_target()).replace("Intel", "Int\xe9l").encode("latin-1") + b"# \xff\n")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 0x"):
        load_target_file(path)
    assert "not UTF-8" in cli_error("targets", "show", path)


def test_target_with_nan_tolerance_in_toml_is_refused(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(dumps_toml(_target()).replace("max_abs_logit_diff = 1.5", "max_abs_logit_diff = nan"))
    assert "max_abs_logit_diff = nan" in path.read_text()
    assert "must be a finite number, got NaN" in cli_error("targets", "show", path)


# --- recipes and run configs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"seed": -1, "quantize": {}}, "field seed must be >= 0"),
        ({"seed": 2**40, "quantize": {}}, "field seed must be <= 4294967295"),
        ({"name": "../../home", "quantize": {}}, "cannot be a directory name"),
        ({"name": "", "quantize": {}}, "cannot be a directory name"),
        ({"distill": {"learning_rate": "1e-4"}}, 'field distill.learning_rate must be a number, got "1e-4"'),
        ({"distill": {"minutes": float("inf")}}, "field distill.minutes must be a finite number"),
        (
            {"prune_structured": {"heads_ratio": float("nan")}},
            "field prune_structured.heads_ratio must be a finite number",
        ),
        ({"quantize": "dynamic"}, "field quantize must be a table, got str"),
    ],
)
def test_bad_recipes_are_one_line(recipe, message):
    with pytest.raises(ConfigError) as info:
        recipe_from_dict(recipe)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_non_utf8_recipe_file_is_one_line(tmp_path):
    path = tmp_path / "r.toml"
    path.write_bytes(b'description = "caf\xe9"\n[quantize]\n')
    with pytest.raises(ConfigError, match=r"recipe .* is not UTF-8 text"):
        load_recipe(path)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"budget_minutes": "5"}, 'field budget_minutes must be a number, got "5"'),
        ({"budget_minutes": float("inf")}, "field budget_minutes must be a finite number"),
        ({"max_accuracy_drop": float("nan")}, "field max_accuracy_drop must be a finite number"),
        ({"trials": 2.5}, "field trials must be an integer, got 2.5"),
        ({"target": None}, "field target must be a string, got null"),
        ({"trials": 0}, "--trials must be at least 1"),
    ],
)
def test_bad_run_configs_are_one_line(values, message):
    with pytest.raises(ConfigError) as info:
        from_dict(RunConfig, {"target": "x86", **values})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_run_refuses_a_nan_budget_before_any_work(tmp_path):
    assert "budget_minutes must be a finite number" in cli_error(
        "run", "--target", "x86", "--budget-minutes", "nan", "--out", tmp_path / "run"
    )


def test_errors_never_echo_raw_newlines_or_huge_values():
    with pytest.raises(UserError) as info:
        recipe_from_dict({"description": "x" * 10_000 + "\n", "weird\nkey": 1})
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


# --- bundle manifests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("target.runtime.intra_op_threads", "4", 'field target.runtime.intra_op_threads must be an integer, got "4"'),
        ("target.runtime.intra_op_threads", 10**9, "field target.runtime.intra_op_threads must be <= 1024"),
        ("tokenizer.max_length", "64", "field tokenizer.max_length must be an integer"),
        ("tokenizer.max_length", 0, "field tokenizer.max_length must be >= 1"),
        ("format", "pickle", "field format must be one of onnx, torchscript"),
        ("outputs", [], "inputs and outputs must each name at least one tensor"),
        ("model_file", None, "field model_file must be a string, got null"),
        ("source.id2label", ["neg", "pos"], "field source.id2label must be a table"),
    ],
)
def test_bundle_manifest_fields_are_typed(tiny_int8_bundle, field, value, message):
    from edgebert.bundle import read_manifest
    from edgebert.errors import BundleError
    from edgebert.manifest import BundleManifest, parse_bundle_manifest

    manifest = read_manifest(tiny_int8_bundle)
    typed = parse_bundle_manifest(manifest, tiny_int8_bundle)
    assert isinstance(typed, BundleManifest) and typed.format == "onnx" and typed.tokenizer.max_length >= 8
    assert typed.extra["parity"] == manifest["parity"]  # what is not modelled passes through
    with pytest.raises(BundleError) as info:
        parse_bundle_manifest(set_field(manifest, field, value), tiny_int8_bundle)
    assert message in str(info.value) and "\n" not in str(info.value) and info.value.exit_code == 2


# --- Hugging Face config.json ---------------------------------------------------------------------------------------

BERT_CONFIG = {
    "model_type": "bert",
    "vocab_size": 120,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "layer_norm_eps": 1e-12,
    "id2label": {"0": "neg", "1": "pos"},
    "label2id": {"neg": 0, "pos": 1},
    "architectures": ["BertForX"],
}


@pytest.mark.parametrize(
    "field, value, message",
    [
        # Each of these reached transformers/torch before and ended in a TypeError traceback or an empty encoder.
        ("hidden_size", "32", 'field hidden_size must be an integer, got "32"'),
        ("vocab_size", None, None),  # null is "not set": transformers' default applies
        ("max_position_embeddings", "64", 'field max_position_embeddings must be an integer, got "64"'),
        ("num_hidden_layers", -1, "field num_hidden_layers must be >= 1, got -1"),
        ("num_attention_heads", 4.5, "field num_attention_heads must be an integer, got 4.5"),
        ("id2label", ["neg", "pos"], "field id2label must be a table, got list"),
        ("layer_norm_eps", "x", 'field layer_norm_eps must be a number, got "x"'),
    ],
)
def test_model_config_values_of_the_wrong_type_are_one_line(tmp_path, field, value, message):
    from edgebert.errors import ModelError
    from edgebert.models import read_config

    (tmp_path / "config.json").write_text(json.dumps({**BERT_CONFIG, field: value}))
    if message is None:
        assert read_config(tmp_path)[field] is None
        return
    with pytest.raises(ModelError) as info:
        read_config(tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value) and info.value.exit_code == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[1]", "holds a JSON list, not an object"),
        (b'{"model_type": "caf\xe9"}', "is not valid JSON"),
        (b'{"model_type": ["bert"]}', 'holds a ["bert"] model'),
    ],
)
def test_unreadable_model_configs_are_one_line(tmp_path, content, message):
    from edgebert.errors import ModelError
    from edgebert.models import read_config

    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(ModelError, match=re.escape(message)):
        read_config(tmp_path)
