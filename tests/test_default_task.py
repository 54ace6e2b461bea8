"""Integration: the real default model (packaged MiniLM + packaged Rotten Tomatoes), exported per target."""

import pytest
from click.testing import CliRunner

from edgebert import bundle
from edgebert.cli import cli
from edgebert.data import load_default_dataset, split

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_model():
    from edgebert.tasks import default_model_dir

    return default_model_dir()


def test_default_dataset_is_the_documented_split():
    data = load_default_dataset()
    assert len(data) == 12752  # 7,403 fresh + 5,405 rotten, plot rows and 56 duplicate texts dropped
    assert set(data.labels) == {"fresh", "rotten"}
    sizes = {k: len(v) for k, v in split(data).items()}
    assert sizes == {"train": 10202, "dev": 1275, "test": 1275}


def test_default_model_is_cached_and_accurate(default_model):
    m = bundle.read_manifest(default_model)
    assert m["task"]["name"] == "rotten-tomatoes"
    assert m["accuracy"]["test"] > 0.78  # frozen-encoder baseline measured here: 78.6%


@pytest.mark.parametrize(
    "target,precision,min_agreement", [("x86", "fp32", 0.995), ("x86", "int8", 0.97), ("arm64", "int8", 0.97)]
)
def test_default_export_parity_on_the_test_split(tmp_path, default_model, target, precision, min_agreement):
    from edgebert.export.exporter import export_bundle
    from edgebert.targets import QuantizationSettings

    q = QuantizationSettings(mode="none") if precision == "fp32" else None
    out = export_bundle(target, None, tmp_path / "b", quantization=q)
    m = bundle.read_manifest(out)
    bundle.verify_files(out, m)
    assert m["precision"] == precision
    assert m["reference"]["split"] == "test" and m["reference"]["size"] == 1275
    assert m["parity"]["sentences"] == 1275 and m["parity"]["label_agreement"] >= min_agreement
    # the bundle's own accuracy, as its runtime sees it, is within a point of the source model's
    assert abs(m["reference"]["bundle_accuracy"] - m["reference"]["accuracy"]) < 0.01


def test_cli_export_arm64_with_no_other_arguments(tmp_path, default_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["export", "--target", "arm64"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "bundles" / "arm64-pi4-onnx-int8"
    m = bundle.read_manifest(out)
    bundle.verify_files(out, m)  # every sha256 in the manifest matches its file
    assert m["target"]["name"] == "arm64-pi4"
