import json
import shutil

import pytest
from click.testing import CliRunner

from conftest import write_csv
from edgebert import bundle
from edgebert.cli import cli
from edgebert.config import dumps_toml
from edgebert.errors import ParityError
from edgebert.export.exporter import export_bundle
from edgebert.targets import QuantizationSettings, load_target

NO_QUANT = QuantizationSettings(mode="none")


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta", "mpnet"])
def test_fp32_export_matches_source_for_each_architecture(tmp_path, tiny_model_factory, tiny_dataset, model_type):
    model = tiny_model_factory(model_type)
    out = export_bundle("x86", model, tmp_path / "b", dataset=tiny_dataset, quantization=NO_QUANT, max_length=32)
    m = bundle.read_manifest(out)
    bundle.verify_files(out, m)
    assert m["parity"]["passed"] and m["parity"]["max_abs_logit_diff"] < 1e-4
    assert m["source"]["model_type"] == model_type
    # the model, the evaluation split, and the Hugging Face files that make the bundle a model directory
    assert set(m["files"]) == {
        "model.onnx",
        "tokenizer.json",
        "eval.jsonl",
        "config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    }


def test_int8_bundle_runs_int8_kernels_and_keeps_labels(tiny_int8_bundle, tiny_fp32_bundle):
    m8, m32 = bundle.read_manifest(tiny_int8_bundle), bundle.read_manifest(tiny_fp32_bundle)
    assert m8["precision"] == "int8" and m8["export"]["graph"]["int8_ops"] > 0
    assert m32["export"]["graph"]["int8_ops"] == 0
    assert m8["parity"]["label_agreement"] >= 0.97
    assert m8["export"]["bytes"] < m32["export"]["bytes"]
    # the reference predictions are the source model's, one per evaluation text
    assert len(m8["reference"]["predictions"]) == m8["reference"]["size"] == 160


def test_manifest_records_everything_a_device_needs(tiny_int8_bundle):
    m = bundle.read_manifest(tiny_int8_bundle)
    for key in (
        "schema_version",
        "edgebert_version",
        "source",
        "target",
        "format",
        "opset",
        "inputs",
        "outputs",
        "files",
        "parity",
        "reference",
        "tokenizer",
    ):
        assert key in m
    assert m["source"]["sha256"] and m["target"]["quantization"]["per_channel"] is True
    assert m["files"]["model.onnx"] == bundle.sha256_file(tiny_int8_bundle / "model.onnx")


@pytest.mark.parametrize("target", ["x86", "arm64"])
def test_torchscript_export_passes_parity(tmp_path, tiny_trained_model, tiny_dataset, target):
    out = export_bundle(
        target, tiny_trained_model, tmp_path / "ts", format="torchscript", dataset=tiny_dataset, max_length=32
    )
    m = bundle.read_manifest(out)
    assert m["format"] == "torchscript" and m["model_file"] == "model.pt"
    assert m["export"]["quantized_engine"] == load_target(target).runtime.torch_quantized_engine
    assert m["parity"]["passed"]


def test_static_int8_export(tmp_path, tiny_trained_model, tiny_dataset):
    q = QuantizationSettings(
        mode="static", format="QDQ", activation_type="int8", weight_type="int8", calibration_samples=32
    )
    out = export_bundle("x86", tiny_trained_model, tmp_path / "s", dataset=tiny_dataset, quantization=q, max_length=32)
    m = bundle.read_manifest(out)
    assert m["export"]["graph"]["ops"].get("QuantizeLinear", 0) > 0
    assert m["parity"]["label_agreement"] >= 0.97


def test_static_int8_keeps_outlier_inputs_in_float():
    """Static int8 keeps float: MatMuls of two activations, the MatMul after GELU's formula, embedding lookups; it
    quantizes the MatMul that reads a LayerNorm."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from edgebert.export.onnx import outlier_nodes

    def w(name, *shape):
        return numpy_helper.from_array(np.ones(shape, np.float32), name)

    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["x"], name="lookup"),
        helper.make_node("LayerNormalization", ["x", "g", "b"], ["ln"], name="ln"),
        helper.make_node("MatMul", ["ln", "w_up"], ["up"], name="up_proj"),
        helper.make_node("Div", ["up", "sqrt2"], ["d"], name="div"),
        helper.make_node("Erf", ["d"], ["e"], name="erf"),
        helper.make_node("Add", ["e", "one"], ["a"], name="add"),
        helper.make_node("Mul", ["up", "a"], ["m"], name="mul"),
        helper.make_node("Mul", ["m", "half"], ["gelu"], name="mul_1"),
        helper.make_node("MatMul", ["gelu", "w_down"], ["down"], name="down_proj"),
        helper.make_node("MatMul", ["down", "down_t"], ["scores"], name="scores"),
    ]
    inits = [w("emb", 10, 4), w("g", 4), w("b", 4), w("w_up", 4, 8), w("w_down", 8, 4)]
    inits += [w("sqrt2"), w("one"), w("half")]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, [1, 3]),
            helper.make_tensor_value_info("down_t", onnx.TensorProto.FLOAT, [1, 4, 3]),
        ],
        [helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, None)],
        inits,
    )
    assert sorted(outlier_nodes(graph)) == ["down_proj", "lookup", "scores"]


def test_fp16_export_for_cuda_converts_weights(tmp_path, tiny_trained_model, tiny_dataset):
    out = export_bundle("cuda", tiny_trained_model, tmp_path / "f16", dataset=tiny_dataset, max_length=32)
    m = bundle.read_manifest(out)
    assert m["precision"] == "fp16"
    import onnx

    model = onnx.load(str(out / "model.onnx"))
    types = {init.data_type for init in model.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types
    assert m["parity"]["max_abs_logit_diff"] < 0.05


def test_parity_failure_is_typed_and_leaves_no_bundle(tmp_path, tiny_trained_model, tiny_dataset):
    d = load_target("x86-avx512-vnni").to_dict()
    d["name"] = "strict"
    d["parity"]["int8"] = {"max_abs_logit_diff": 0.0, "min_label_agreement": 1.0}
    path = tmp_path / "strict.toml"
    path.write_text(dumps_toml(d))
    with pytest.raises(ParityError, match=r"failed parity on 160 sentences .*max \|logit diff\|"):
        export_bundle(str(path), tiny_trained_model, tmp_path / "b", dataset=tiny_dataset, max_length=32)
    assert [p.name for p in tmp_path.iterdir()] == ["strict.toml"]
    # A bundle made only to be timed (edgebert run's untrained shapes) records the miss instead of stopping
    out = export_bundle(
        str(path), tiny_trained_model, tmp_path / "t", dataset=tiny_dataset, max_length=32, timing_only=True
    )
    m = json.loads((out / "manifest.json").read_text())
    assert m["timing_only"] is True and m["parity"]["passed"] is False
    assert "failed parity on 160 sentences" in m["parity"]["error"]
    # ... which bench says when it times it, and which is never loaded to predict
    from edgebert import predictor
    from edgebert.bench.plan import check_bundle
    from edgebert.errors import BundleError

    warnings: list[str] = []
    check_bundle(out, warnings)
    assert any("exported for timing only" in w for w in warnings)
    with pytest.raises(BundleError, match="exported for timing only and failed parity"):
        predictor.load(out)


def test_ctrl_c_during_export_leaves_no_bundle(tmp_path, tiny_trained_model, tiny_dataset, monkeypatch):
    import edgebert.export.parity as parity

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(parity, "compare_logits", interrupted)
    result = run_cli(
        "export", "--target", "x86", "--model", tiny_trained_model, "--dataset", tiny_dataset, "--out", tmp_path / "b"
    )
    assert result.exit_code == 130
    assert "interrupted" in result.output
    assert list(tmp_path.iterdir()) == []


def _no_weights(tmp_path, model):
    d = tmp_path / "noweights"
    shutil.copytree(model, d)
    (d / "model.safetensors").unlink()
    return d


def _corrupt(tmp_path, model):
    d = tmp_path / "corrupt"
    shutil.copytree(model, d)
    data = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    return d


def _pickle_only(tmp_path, model):
    d = _no_weights(tmp_path, model)
    (d / "pytorch_model.bin").write_bytes(b"not loaded")
    return d


@pytest.mark.parametrize(
    "case,message",
    [
        (
            lambda tmp, m, ds: ["--target", "quantum", "--model", m, "--dataset", ds],
            "unknown target 'quantum'; valid targets:",
        ),
        (lambda tmp, m, ds: ["--target", "x86", "--model", tmp / "nope", "--dataset", ds], "does not exist"),
        (lambda tmp, m, ds: ["--target", "x86", "--model", _no_weights(tmp, m), "--dataset", ds], "has no weights"),
        (lambda tmp, m, ds: ["--target", "x86", "--model", _corrupt(tmp, m), "--dataset", ds], "corrupt or truncated"),
        (
            lambda tmp, m, ds: ["--target", "x86", "--model", _pickle_only(tmp, m), "--dataset", ds],
            "loads safetensors only",
        ),
        (
            lambda tmp, m, ds: [
                "--target",
                "x86",
                "--model",
                m,
                "--dataset",
                write_csv(tmp / "d.csv", [{"text": "a", "label": "pos"}], ["text"]),
            ],
            "no column 'label'",
        ),
        (lambda tmp, m, ds: ["--target", "x86", "--model", m, "--dataset", write_csv(tmp / "e.csv", [])], "no rows"),
        (
            lambda tmp, m, ds: [
                "--target",
                "x86",
                "--model",
                m,
                "--dataset",
                write_csv(tmp / "f.csv", [{"text": "a", "label": "meh"}]),
            ],
            "labels the model does not know",
        ),
        (lambda tmp, m, ds: ["--target", "x86", "--model", m], "pass --dataset"),
        (lambda tmp, m, ds: ["--target", tmp / "missing.toml", "--model", m, "--dataset", ds], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, tiny_trained_model, tiny_dataset, case, message):
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "bundle"
    result = run_cli("export", *case(work, tiny_trained_model, tiny_dataset), "--out", out)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.startswith("error: ") and result.output.strip().count("\n") == 0
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not any(p.name.startswith(".bundle") for p in tmp_path.iterdir())


def test_existing_output_needs_force(tmp_path, tiny_trained_model, tiny_dataset):
    out = tmp_path / "b"
    out.mkdir()
    (out / "manifest.json").write_text('{"kind": "bundle"}')  # an earlier edgebert bundle: --force may replace it
    (out / "keep.txt").write_text("old")
    result = run_cli(
        "export", "--target", "x86", "--model", tiny_trained_model, "--dataset", tiny_dataset, "--out", out
    )
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "keep.txt").exists()
    forced = run_cli(
        "export", "--target", "x86", "--model", tiny_trained_model, "--dataset", tiny_dataset, "--out", out, "--force"
    )
    assert forced.exit_code == 0, forced.output
    assert not (out / "keep.txt").exists() and (out / "manifest.json").exists()


def test_quiet_logs_drops_onnxruntime_records_only(caplog):
    """Export silences onnxruntime's advice (its named loggers and its direct root-logger calls), not logging at large."""
    import logging
    from pathlib import Path

    import onnxruntime

    from edgebert.export.onnx import quiet_logs

    ort_file = str(Path(onnxruntime.__file__).parent / "quantization" / "quantize.py")
    caplog.set_level(logging.INFO)
    with quiet_logs():
        logging.getLogger("onnxruntime.transformers.fusion").warning("fusion advice")
        logging.getLogger().handle(
            logging.makeLogRecord(
                {
                    "name": "root",
                    "levelno": logging.WARNING,
                    "levelname": "WARNING",
                    "pathname": ort_file,
                    "msg": "preprocess advice",
                }
            )
        )
        logging.getLogger("someone.else").warning("a user's warning")
        logging.getLogger().handle(
            logging.makeLogRecord(
                {
                    "name": "root",
                    "levelno": logging.ERROR,
                    "levelname": "ERROR",
                    "pathname": ort_file,
                    "msg": "a real ort error",
                }
            )
        )
    logging.getLogger("onnxruntime.transformers.fusion").warning("after the block")
    assert [r.getMessage() for r in caplog.records] == ["a user's warning", "a real ort error", "after the block"]
    assert not logging.root.manager.disable  # nothing disabled process-wide
