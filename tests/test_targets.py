import json

import pytest
from click.testing import CliRunner

from edgebert.cli import cli
from edgebert.config import dumps_toml
from edgebert.errors import ConfigError, UserError
from edgebert.targets import builtin_targets, load_target, parse_target

SHIPPED = ["x86-avx2", "x86-avx512-vnni", "arm64-pi4", "arm64-pi5", "cuda"]


def test_every_shipped_target_loads():
    names = {t.name for t in builtin_targets()}
    assert set(SHIPPED) <= names


@pytest.mark.parametrize("alias,expected", [("arm64", "arm64-pi4"), ("pi5", "arm64-pi5"), ("gpu", "cuda")])
def test_aliases_resolve(alias, expected):
    assert load_target(alias).name == expected


def test_x86_alias_picks_the_most_capable_target_this_cpu_runs():
    t = load_target("x86")
    assert t.name in ("x86-avx2", "x86-avx512-vnni")
    assert t.missing_cpu_features() == [] or t.name == "x86-avx2"


@pytest.mark.parametrize("name", SHIPPED)
def test_target_round_trips_through_toml(tmp_path, name):
    t = load_target(name)
    path = tmp_path / "t.toml"
    path.write_text(dumps_toml(t.to_dict()))
    again = load_target(str(path))
    assert again == t


def _base():
    return load_target("x86-avx512-vnni").to_dict()


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d.pop("export"), "field export is missing"),
        (lambda d: d["export"].pop("format"), "field export.format is missing"),
        (lambda d: d["export"].__setitem__("opset", "17"), "export.opset must be an integer"),
        (lambda d: d["runtime"].__setitem__("intra_op_threads", -1), "intra_op_threads must be >= 0"),
        (lambda d: d["quantization"].__setitem__("mode", "int4"), "quantization.mode must be one of"),
        (
            lambda d: d["quantization"].__setitem__("per_channel", "yes"),
            "quantization.per_channel must be true or false",
        ),
        (lambda d: d.__setitem__("colour", "red"), "unknown key colour"),
        (lambda d: d["parity"].pop("int8"), "parity.int8"),
    ],
)
def test_bad_target_files_name_the_field(tmp_path, mutate, message):
    d = _base()
    mutate(d)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_target(d, "test")


def test_user_target_file_error_names_the_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n')
    with pytest.raises(ConfigError, match="mine.toml"):
        load_target(str(path))


def test_unknown_target_lists_valid_ones():
    with pytest.raises(UserError, match="valid targets: .*arm64.*x86"):
        load_target("risc-v")


def test_cli_targets_list_and_show():
    runner = CliRunner()
    result = runner.invoke(cli, ["targets", "list"], terminal_width=200)
    assert result.exit_code == 0
    for name in SHIPPED:
        assert name in result.output
    shown = runner.invoke(cli, ["targets", "show", "arm64"])
    assert shown.exit_code == 0
    assert 'name = "arm64-pi4"' in shown.output and "per_channel = true" in shown.output
    as_json = runner.invoke(cli, ["targets", "show", "cuda", "--json"])
    assert json.loads(as_json.output)["export"]["precision"] == "fp16"


def test_cli_unknown_target_is_one_line():
    result = CliRunner().invoke(cli, ["targets", "show", "nope"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and result.output.startswith("error: unknown target")
