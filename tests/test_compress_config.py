"""Recipes and compression configs: TOML/JSON round-trips, the shipped recipes, and every bad setting (one line)."""

import json
import tomllib
from pathlib import Path

import pytest

from edgebert.compress.distill import DistillConfig
from edgebert.compress.prune_structured import PruneStructuredConfig
from edgebert.compress.prune_unstructured import PruneUnstructuredConfig
from edgebert.compress.quantize import QuantizeConfig, settings
from edgebert.compress.recipe import Recipe, load_recipe, recipe_from_dict
from edgebert.compress.share import ShareConfig, groups_for
from edgebert.config import dumps_toml, from_dict, to_dict
from edgebert.errors import ConfigError, UserError

RECIPES = sorted((Path(__file__).parent.parent / "benchmarks" / "recipes").glob("*.toml"))

NON_DEFAULT = [
    PruneStructuredConfig(
        heads_ratio=0.25, ffn_ratio=0.5, layers_ratio=0.34, importance="activation", samples=64, batch_size=8
    ),
    ShareConfig(group_size=3, init="mean"),
    PruneUnstructuredConfig(sparsity=0.7, scope="layer"),
    DistillConfig(
        steps=7,
        minutes=1.5,
        batch_size=4,
        learning_rate=3e-4,
        warmup_ratio=0.2,
        temperature=4.0,
        kd_weight=0.9,
        hidden_weight=0.5,
        teacher="/models/teacher",
    ),
    QuantizeConfig(
        mode="static",
        per_channel=False,
        weight_type="int8",
        activation_type="int8",
        format="QDQ",
        reduce_range=True,
        calibration_samples=16,
        keep_sensitive_float=False,
    ),
    QuantizeConfig(mode="bf16"),
    Recipe(
        name="all",
        description="every stage",
        seed=3,
        max_length=48,
        prune_structured=PruneStructuredConfig(heads_ratio=0.5),
        share=ShareConfig(),
        prune_unstructured=PruneUnstructuredConfig(sparsity=0.3),
        distill=DistillConfig(steps=5),
        quantize=QuantizeConfig(mode="dynamic"),
    ),
]


@pytest.mark.parametrize("config", NON_DEFAULT, ids=lambda c: type(c).__name__)
def test_every_config_round_trips_through_toml_and_json(config):
    data = to_dict(config)
    assert from_dict(type(config), tomllib.loads(dumps_toml(data))) == config
    assert from_dict(type(config), json.loads(json.dumps(data))) == config


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipes_load_and_round_trip(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    assert recipe.stages()
    assert recipe_from_dict(tomllib.loads(dumps_toml(to_dict(recipe)))) == recipe


def test_recipe_stages_run_in_the_fixed_order():
    recipe = recipe_from_dict({"quantize": {}, "distill": {}, "share": {}, "prune_structured": {"heads_ratio": 0.5}})
    assert recipe.stages() == ["prune_structured", "share", "distill", "quantize"]


@pytest.mark.parametrize(
    "data, words",
    [
        ({"prune_structured": {"heads_ratio": 1.0}}, ["heads_ratio", "[0, 1)"]),
        ({"prune_structured": {"heads_ratio": -0.1}}, ["heads_ratio", "[0, 1)"]),
        ({"prune_structured": {"ffn_ratio": 1.5}}, ["ffn_ratio", "[0, 1)"]),
        ({"prune_structured": {"layers_ratio": 1}}, ["layers_ratio", "[0, 1)"]),
        ({"prune_unstructured": {"sparsity": 1.0}}, ["sparsity", "[0, 1)"]),
        ({"prune_unstructured": {"sparsity": -0.5}}, ["sparsity", "[0, 1)"]),
        ({"prune_structured": {"head_ratio": 0.5}}, ["unknown key", "prune_structured.head_ratio"]),
        ({"distil": {"steps": 3}}, ["unknown key", "distil"]),
        ({"distill": {"steps": 3, "epochs": 2, "lr": 1}}, ["unknown keys", "distill.epochs", "distill.lr"]),
        ({"distill": {"steps": 0}}, ["distill.steps"]),
        ({"distill": {"kd_weight": 1.5}}, ["kd_weight"]),
        ({"share": {"group_size": 1}}, ["group_size"]),
        ({"quantize": {"mode": "int4"}}, ["quantize.mode", "dynamic"]),
        ({"quantize": {"mode": "dynamic", "activation_type": "int8"}}, ["activation_type", "uint8"]),
        ({"prune_structured": {"heads_ratio": "half"}}, ["heads_ratio", "number"]),
        ({"max_length": 4}, ["max_length"]),
    ],
)
def test_bad_recipes_are_one_line_errors_naming_the_field(data, words):
    with pytest.raises(ConfigError) as err:
        recipe = recipe_from_dict(data)
        if recipe.quantize is not None:
            settings(recipe.quantize)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_recipe_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[prune_structured]\nheads_ratoi = 0.5\n")
    with pytest.raises(ConfigError, match=r"bad\.toml.*prune_structured\.heads_ratoi"):
        load_recipe(bad)
    (tmp_path / "broken.toml").write_text("[distill\nsteps = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_recipe(tmp_path / "broken.toml")
    with pytest.raises(UserError, match="does not exist"):
        load_recipe(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "config, mode, precision, per_channel, kept_float",
    [
        (QuantizeConfig(), "dynamic", "int8", True, None),
        (QuantizeConfig(per_channel=False), "dynamic", "int8", False, None),
        (QuantizeConfig(mode="static"), "static", "int8", True, True),
        (QuantizeConfig(mode="static", keep_sensitive_float=False), "static", "int8", True, False),
        (QuantizeConfig(mode="fp16"), "none", "fp16", True, None),
        (QuantizeConfig(mode="bf16"), "none", "bf16", True, None),
    ],
)
def test_quantize_settings_are_what_export_applies(config, mode, precision, per_channel, kept_float):
    q, got_precision = settings(config)
    assert (q.mode, got_precision) == (mode, precision)
    if mode != "none":
        assert q.per_channel is per_channel
        assert q.format == ("QOperator" if mode == "dynamic" else "QDQ")
    if kept_float is not None:
        assert ("LayerNormalization" in q.keep_float_ops and "Softmax" in q.keep_float_ops) is kept_float


@pytest.mark.parametrize(
    "n, size, groups",
    [(6, 2, [[0, 1], [2, 3], [4, 5]]), (3, 2, [[0, 1]]), (5, 3, [[0, 1, 2], [3, 4]]), (4, 4, [[0, 1, 2, 3]])],
)
def test_share_groups_are_consecutive_layers(n, size, groups):
    assert groups_for(n, size) == groups


def test_every_registered_stage_is_a_recipe_field_of_its_config_type():
    """The registry and the Recipe dataclass agree: one field per stage, in the registry's order, typed by its config."""
    import inspect

    from edgebert.compress import common
    from edgebert.compress.stages import STAGES

    fields = {f: t for f, t in Recipe.__annotations__.items() if f in STAGES}
    assert list(fields) == list(STAGES)
    for name, stage in STAGES.items():
        assert fields[name] == f"{stage.config_type.__name__} | None"
        for fn in (stage.apply, stage.check):
            assert list(inspect.signature(fn).parameters)[:3] == ["model", "config", "ctx"], fn
        assert stage.config_type() == from_dict(stage.config_type, {})  # defaults build; TOML tables may be empty
    ctx = common.CompressContext(tokenizer=None, label2id={"neg": 0, "pos": 1})
    STAGES["quantize"].check(None, QuantizeConfig(mode="static"), ctx)
    with pytest.raises(ConfigError, match="quantize.activation_type"):
        STAGES["quantize"].check(None, QuantizeConfig(mode="dynamic", activation_type="int8"), ctx)
