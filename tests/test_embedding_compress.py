"""`edgebert compress` on a sentence-embedding model: structured pruning and distillation against the unpruned
teacher's sentence embeddings on unlabelled text, written back as a sentence-transformers directory that export reads
(tiny random BERT in that layout, built as tests/test_embedding.py does)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_embedding import build_sentence_model, run_cli, sentence_data  # noqa: F401  (a module-scoped fixture)

PRUNE = {"layers_ratio": 0.5, "heads_ratio": 0.5, "ffn_ratio": 0.5, "importance": "activation", "samples": 64}
DISTILL = {"steps": 40, "batch_size": 16, "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """Weights drawn 10x wider than BERT's default: at 0.02 a random layer barely moves the residual stream, so
    pruning would not change the embeddings enough for distillation to have anything to win back."""
    import torch
    import transformers

    out = build_sentence_model(tmp_path_factory.mktemp("st") / "teacher", "mean", normalize=True, seed=1)
    cfg = transformers.BertConfig.from_pretrained(str(out), initializer_range=0.2)
    torch.manual_seed(1)
    transformers.BertModel(cfg).save_pretrained(str(out), safe_serialization=True)
    return out


def compress(teacher, data, out, **stages):
    from edgebert.compress.recipe import compress_model

    recipe = {"name": "embed", "max_length": 32, **stages}
    return compress_model(teacher, recipe, out, dataset=data)


@pytest.fixture(scope="module")
def pruned_and_distilled(tmp_path_factory, teacher, sentence_data) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("ec") / "c"
    return compress(teacher, sentence_data, out, prune_structured=PRUNE, distill=DISTILL, quantize={"mode": "dynamic"})


def test_pruning_shrinks_the_matrices_and_keeps_a_loadable_layout(pruned_and_distilled):
    from edgebert.sentence_models import embed, load_sentence_model, read_layout

    layout = read_layout(pruned_and_distilled)  # modules.json, pooling and Normalize carried over
    assert (layout.pooling, layout.normalize, layout.max_seq_length) == ("mean", True, 48)
    model, tok = load_sentence_model(pruned_and_distilled)
    layers = model.encoder.encoder.layer
    assert len(layers) == 1  # 2 layers → 1
    assert layers[0].attention.self.query.weight.shape == (16, 32)  # 4 heads of 8 → 2
    assert layers[0].intermediate.dense.weight.shape == (32, 32)  # FFN 64 → 32
    vec = embed(model, tok, ["a fine film", "dull"], 32)
    assert vec.shape == (2, 32) and np.allclose(np.linalg.norm(vec, axis=1), 1, atol=1e-5)
    m = json.loads((pruned_and_distilled / "manifest.json").read_text())
    assert m["task_type"] == "sentence-embedding" and m["dev_metric"] == "dev_cosine_to_teacher"
    assert m["shape"] == {"layers": 1, "heads": [2], "ffn": [32]}
    assert m["source"]["dev_cosine_to_teacher"] == pytest.approx(1.0, abs=1e-5)  # the intact model is the teacher


def test_distillation_lowers_the_embedding_loss_against_the_teacher(pruned_and_distilled):
    m = json.loads((pruned_and_distilled / "manifest.json").read_text())
    prune, distill = m["stages"][0], m["stages"][1]
    assert (prune["stage"], distill["stage"]) == ("prune_structured", "distill")
    assert prune["dev_cosine_to_teacher_after"] < 0.999  # pruning moved the embeddings away from the teacher
    assert distill["dev_cosine_to_teacher_after"] > prune["dev_cosine_to_teacher_after"]  # on held-out dev texts
    assert distill["result"]["loss_last"] < distill["result"]["loss_first"]
    assert distill["result"]["teacher_embeddings_computed"] > 0


def test_layers_are_chosen_by_the_embedding_loss(pruned_and_distilled):
    rounds = json.loads((pruned_and_distilled / "manifest.json").read_text())["stages"][0]["result"]["layer_selection"]
    losses = {int(k): v for k, v in rounds[0]["loss_without"].items()}
    assert set(losses) == {0, 1} and all(v > 0 for v in losses.values())
    assert rounds[0]["dropped"] == min(losses, key=losses.get)


def test_compress_export_bench_end_to_end(tmp_path, pruned_and_distilled, sentence_data):  # noqa: F811
    bundle = tmp_path / "b"
    result = run_cli(
        "export",
        "--target",
        "x86-avx512-vnni",
        "--model",
        pruned_and_distilled,
        "--dataset",
        sentence_data,
        "--out",
        bundle,
    )
    assert result.exit_code == 0, result.output
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["task_type"] == "sentence-embedding" and m["precision"] == "int8"
    assert m["target"]["quantization"]["mode"] == "dynamic"  # the recipe's [quantize], applied at export
    assert [s["stage"] for s in m["stages"]][-3:] == ["prune_structured", "distill", "quantize"]
    out = tmp_path / "r.json"
    result = run_cli("bench", bundle, "--batch-sizes", "1", "--seq-lens", "8", "--iterations", "2", "--out", out)
    assert result.exit_code == 0, result.output
    acc = json.loads(out.read_text())["accuracy"]
    assert acc["metric"] == "spearman" and -1 <= acc["spearman"] <= 1 and 0 <= acc["nn_top1_agreement"] <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--prune-heads-ratio", "0.5"], 'error: prune_structured.importance = "gradient" needs labels'),
        (["--share-group-size", "2"], "error: the [share] stage does not apply to sentence-embedding models"),
    ],
)
def test_a_stage_that_cannot_apply_to_embeddings_is_one_line(tmp_path, teacher, sentence_data, args, message):  # noqa: F811
    result = run_cli("compress", "--model", teacher, "--dataset", sentence_data, *args, "--out", tmp_path / "c")
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(message) and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_compress_cli_shows_the_embedding_dev_metric(tmp_path, teacher, sentence_data):  # noqa: F811
    out = tmp_path / "c"
    args = ["--prune-ffn-ratio", "0.5", "--prune-importance", "activation", "--prune-samples", "32"]
    result = run_cli("compress", "--model", teacher, "--dataset", sentence_data, *args, "--out", out)
    assert result.exit_code == 0, result.output
    assert "dev cosine to teacher" in result.output and "accuracy" not in result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["stages"][-1]["dev_cosine_to_teacher_after"] < 1.0 and m["shape"]["ffn"] == [32, 32]


def test_a_teacher_that_is_not_a_sentence_model_is_one_line(tmp_path, teacher, sentence_data):  # noqa: F811
    not_st = teacher / "1_Pooling"  # a directory without modules.json
    args = ["--distill-steps", "2", "--distill-teacher", not_st, "--out", tmp_path / "c"]
    result = run_cli("compress", "--model", teacher, "--dataset", sentence_data, *args)
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1, result.output
    assert "modules.json is missing" in result.output and not (tmp_path / "c").exists()


def test_an_embedding_model_compresses_on_texts_without_labels(tmp_path, teacher, sentence_data):  # noqa: F811
    """Distillation needs only texts: a JSONL with a text column and nothing else is a dataset here."""
    from edgebert.data import load_dataset

    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in load_dataset(sentence_data).texts))
    out = tmp_path / "c"
    args = ["--prune-ffn-ratio", "0.5", "--prune-importance", "activation", "--prune-samples", "32"]
    result = run_cli("compress", "--model", teacher, "--dataset", texts, *args, "--distill-steps", "3", "--out", out)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["shape"]["ffn"] == [32, 32] and m["stages"][-1]["stage"] == "distill"
