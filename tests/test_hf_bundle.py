"""A bundle is also a Hugging Face model directory: Optimum's ORTModel, transformers' pipeline() and onnxruntime +
tokenizers alone all load it, and give the labels `edgebert predict` gives on the evaluation split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.cli import cli


def _eval_texts(bundle) -> list[str]:
    return [json.loads(line)["text"] for line in (bundle / "eval.jsonl").read_text().splitlines()]


def _cli_labels(bundle, tmp_path, batch_size: int = 32) -> list[str]:
    src = tmp_path / "texts.txt"
    src.write_text("\n".join(_eval_texts(bundle)) + "\n")
    result = CliRunner().invoke(
        cli, ["predict", str(bundle), "--input", str(src), "--format", "jsonl", "--batch-size", str(batch_size)]
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line)["label"] for line in result.stdout.splitlines()]


def test_bundle_holds_the_hugging_face_files_and_the_manifest_lists_them(tiny_int8_bundle):
    manifest = json.loads((tiny_int8_bundle / "manifest.json").read_text())
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "model.onnx"):
        assert (tiny_int8_bundle / name).is_file() and name in manifest["files"]
    config = json.loads((tiny_int8_bundle / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["label2id"] == {"neg": 0, "pos": 1}
    assert json.loads((tiny_int8_bundle / "tokenizer_config.json").read_text())["model_max_length"] == 32


@pytest.mark.parametrize("bundle_name,batch_size", [("tiny_fp32_bundle", 32), ("tiny_int8_bundle", 1)])
def test_optimum_ortmodel_and_pipeline_give_the_labels_of_edgebert_predict(request, tmp_path, bundle_name, batch_size):
    """fp32 in edgebert's batches; int8 one text per call on both sides (dynamic int8 picks its activation scales
    per call, so a text's label may depend on what shares its batch)."""
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    bundle = request.getfixturevalue(bundle_name)
    model = ORTModelForSequenceClassification.from_pretrained(bundle)
    classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(bundle))
    texts = _eval_texts(bundle)
    got = [r["label"] for r in classify(texts, batch_size=batch_size, truncation=True)]
    assert got == _cli_labels(bundle, tmp_path, batch_size)


def test_onnxruntime_and_tokenizers_alone_load_a_bundle(tiny_fp32_bundle, tmp_path):
    """No edgebert code: the files and config.json are enough."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    config = json.loads((tiny_fp32_bundle / "config.json").read_text())
    tok = Tokenizer.from_file(str(tiny_fp32_bundle / "tokenizer.json"))
    tok.enable_truncation(32)
    session = ort.InferenceSession(str(tiny_fp32_bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    labels = []
    for text in _eval_texts(tiny_fp32_bundle):
        enc = tok.encode(text)
        feed = {"input_ids": [enc.ids], "attention_mask": [enc.attention_mask], "token_type_ids": [enc.type_ids]}
        logits = session.run(None, {k: np.array(v, dtype=np.int64) for k, v in feed.items() if k in names})[0]
        labels.append(config["id2label"][str(int(logits[0].argmax()))])
    assert labels == _cli_labels(tiny_fp32_bundle, tmp_path)
