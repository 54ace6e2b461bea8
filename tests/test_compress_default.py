"""The real default model through compress → export (slow: minutes on 2 cores)."""

import pytest

from edgebert import bundle
from edgebert.compress.recipe import compress_model, load_recipe
from edgebert.config import to_dict
from edgebert.export.exporter import export_bundle

pytestmark = pytest.mark.slow


def test_fast_recipe_shape_on_the_default_model_exports_int8_with_parity(tmp_path):
    """The fast-x86 recipe's structure with a short distillation: the result keeps the task and passes parity."""
    from pathlib import Path

    recipe = to_dict(load_recipe(Path(__file__).parent.parent / "benchmarks" / "recipes" / "fast-x86.toml"))
    recipe["distill"]["steps"] = 20
    out = compress_model(None, recipe, tmp_path / "fast")
    m = bundle.read_manifest(out)
    assert m["task"]["name"] == "rotten-tomatoes"  # export finds the evaluation split through it
    assert m["shape"] == {"layers": 4, "heads": [9] * 4, "ffn": [768] * 4}
    assert m["source"]["shape"] == {"layers": 6, "heads": [12] * 6, "ffn": [1536] * 6}
    assert m["macs_per_token"] < m["source"]["macs_per_token"] / 2.5  # 2.53x fewer
    assert [s["stage"] for s in m["stages"]][-3:] == ["prune_structured", "distill", "quantize"]
    assert m["quantization"]["mode"] == "dynamic" and m["quantization"]["per_channel"] is True
    b = bundle.read_manifest(export_bundle("x86-avx512-vnni", out, tmp_path / "bundle"))
    assert b["parity"]["passed"] and b["reference"]["split"] == "test"
    assert b["export"]["graph"]["ops"].get("QAttention") == 4
