"""Every compression method on tiny models: it really changes the model, the change survives save/reload/export,
and the stage record says by how much."""

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import build_model, make_rows, write_csv
from edgebert import bundle, data
from edgebert.compress import common
from edgebert.compress.common import CompressContext, Layout, macs_per_token
from edgebert.compress.prune_structured import PruneStructuredConfig, prune_structured_, unit_importance
from edgebert.compress.prune_unstructured import PruneUnstructuredConfig, prune_unstructured_
from edgebert.compress.recipe import compress_model
from edgebert.compress.share import ShareConfig, share_layers_
from edgebert.export.exporter import export_bundle
from edgebert.models import label2id, load_classifier, predict_logits, save_model
from edgebert.targets import QuantizationSettings


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory) -> Path:
    """600 labelled sentences: split 480 train / 60 dev / 60 test by compress."""
    return write_csv(tmp_path_factory.mktemp("compress-data") / "train.csv", make_rows(600, seed=3))


@pytest.fixture(scope="module")
def splits(train_csv):
    return data.split(data.load_dataset(train_csv))


def context(model, tokenizer, splits, **kw) -> CompressContext:
    return CompressContext(
        tokenizer=tokenizer, label2id=label2id(model), train=splits["train"], dev=splits["dev"], max_length=32, **kw
    )


@pytest.fixture(scope="module")
def pruned_dir(tmp_path_factory, tiny_trained_model, train_csv) -> Path:
    recipe = {
        "name": "pruned",
        "max_length": 32,
        "prune_structured": {"heads_ratio": 0.5, "ffn_ratio": 0.5, "layers_ratio": 0.5, "samples": 128},
    }
    return compress_model(tiny_trained_model, recipe, tmp_path_factory.mktemp("c") / "pruned", dataset=train_csv)


def onnx_structure(bundle_dir: Path) -> dict:
    """Layers (attention ops), attention widths and FFN widths read from an exported, fused fp32 graph."""
    import onnx

    model = onnx.load(str(bundle_dir / "model.onnx"))
    dims = {i.name: tuple(i.dims) for i in model.graph.initializer}
    attention = [dims[n.input[1]][1] // 3 for n in model.graph.node if n.op_type == "Attention"]
    producer = {out: n for n in model.graph.node for out in n.output}
    # the FFN's first Linear is the MatMul whose output the fused BiasGelu takes
    ffn = [dims[producer[n.input[0]].input[1]][1] for n in model.graph.node if n.op_type == "BiasGelu"]
    return {"layers": len(attention), "attention_width": attention, "ffn_width": ffn}


def test_structured_pruning_record(pruned_dir, tiny_trained_model):
    m = bundle.read_manifest(pruned_dir)
    assert m["kind"] == "model"
    (stage,) = m["stages"]
    assert stage["stage"] == "prune_structured"
    assert stage["shape_after"] == {"layers": 1, "heads": [2], "ffn": [32]}
    assert m["source"]["shape"] == {"layers": 2, "heads": [4, 4], "ffn": [64, 64]}
    assert stage["params_after"] < stage["params_before"] == m["source"]["parameters"]
    assert stage["macs_per_token_after"] < stage["macs_per_token_before"]
    assert stage["dev_accuracy_before"] is not None and stage["dev_accuracy_after"] is not None
    assert len(stage["result"]["layers_kept"]) == 1
    # the stage's timing lies inside the whole run's: seconds and a parseable start time, not a placeholder
    assert datetime.fromisoformat(stage["started_at"]).tzinfo is not None and 0 <= stage["seconds"] <= m["seconds"]
    model, _ = load_classifier(pruned_dir)  # transformers re-applies config.pruned_heads on load
    assert common.shape_summary(model) == stage["shape_after"]
    assert common.count_parameters(model) == m["parameters"]


def test_pruned_model_exports_with_smaller_shapes_and_fewer_layers(
    pruned_dir, tiny_trained_model, tiny_dataset, tmp_path
):
    none = QuantizationSettings(mode="none")
    full = export_bundle(
        "x86-avx512-vnni", tiny_trained_model, tmp_path / "full", dataset=tiny_dataset, quantization=none, max_length=32
    )
    small = export_bundle(
        "x86-avx512-vnni", pruned_dir, tmp_path / "small", dataset=tiny_dataset, quantization=none, max_length=32
    )
    assert onnx_structure(full) == {"layers": 2, "attention_width": [32, 32], "ffn_width": [64, 64]}
    assert onnx_structure(small) == {"layers": 1, "attention_width": [16], "ffn_width": [32]}
    # int8 export of the pruned model passes the same parity check as any export
    int8 = export_bundle("x86-avx512-vnni", pruned_dir, tmp_path / "int8", dataset=tiny_dataset, max_length=32)
    assert bundle.read_manifest(int8)["parity"]["passed"]


def test_macs_per_token_follows_the_documented_formula(tiny_trained_model):
    model, _ = load_classifier(tiny_trained_model)
    h, i, layers, labels, L = 32, 64, 2, 2, 128
    per_layer = 4 * h * h + 2 * h * i + 2 * L * h  # Q, K, V, O + FFN in/out + scores and context
    assert macs_per_token(model, L) == round(layers * per_layer + (h * h + h * labels) / L)


def test_gradient_head_importance_is_the_head_mask_gradient(tiny_trained_model, splits):
    """Michel et al.: importance of head h = Σ_examples |∂L/∂mask_h|; our hook-based score must equal it."""
    model, tok = load_classifier(tiny_trained_model)
    model.config._attn_implementation = "eager"  # head_mask is honoured by the eager attention
    ctx = context(model, tok, splits)
    cfg = PruneStructuredConfig(samples=16, batch_size=16)
    heads, _ = unit_importance(model, splits["train"], cfg, ctx)
    expected = np.zeros((2, 4))
    for enc, y in common.batches(model, splits["train"], ctx, 16, 1):  # one example per batch: per-example |gradient|
        mask = torch.ones(2, 4, requires_grad=True)
        loss = torch.nn.functional.cross_entropy(model(**enc, head_mask=mask).logits, y, reduction="sum")
        expected += torch.autograd.grad(loss, mask)[0].abs().numpy()
    np.testing.assert_allclose(np.stack(heads), expected, rtol=1e-3, atol=1e-6)


def test_pruning_keeps_the_most_important_units(tiny_trained_model, splits):
    model, tok = load_classifier(tiny_trained_model)
    ctx = context(model, tok, splits)
    cfg = PruneStructuredConfig(heads_ratio=0.25, ffn_ratio=0.5, samples=64)
    heads, ffn = unit_importance(model, splits["train"], cfg, ctx)
    before = [layer.intermediate.dense.weight.detach().clone() for layer in model.bert.encoder.layer]
    result = prune_structured_(model, cfg, ctx)
    for i, layer in enumerate(model.bert.encoder.layer):
        assert result["pruned_heads"][str(i)] == [int(np.argmin(heads[i]))]
        top = np.sort(np.argsort(-ffn[i])[:32])
        assert torch.equal(layer.intermediate.dense.weight, before[i][top])


def test_layers_are_chosen_by_measured_loss(tiny_trained_model, splits):
    model, tok = load_classifier(tiny_trained_model)
    ctx = context(model, tok, splits)
    cfg = PruneStructuredConfig(layers_ratio=0.5, samples=64)
    result = prune_structured_(model, cfg, ctx)
    (round_,) = result["layer_selection"]
    losses = {int(k): v for k, v in round_["loss_without"].items()}
    assert round_["dropped"] == min(losses, key=losses.get)
    assert result["layers_kept"] == [1 - round_["dropped"]] and ctx.layer_map == result["layers_kept"]
    # the recorded loss is the loss of the model that was kept, on the same texts
    total = n = 0
    with torch.inference_mode():
        for enc, y in common.batches(model, splits["train"], ctx, 64, 32):
            total += float(torch.nn.functional.cross_entropy(model(**enc).logits, y, reduction="sum"))
            n += len(y)
    assert total / n == pytest.approx(losses[round_["dropped"]], abs=1e-3)


@pytest.mark.parametrize(
    "model_type, heads_ratio, heads",
    [
        ("bert", 0.5, 2),
        ("distilbert", 0.5, 2),
        ("roberta", 0.5, 2),
        ("mpnet", 0.0, 4),  # MPNet's relative position bias spans every head: no head pruning (see the next test)
    ],
)
def test_every_architecture_prunes_shares_and_reloads_exactly(
    tiny_model_factory, splits, tmp_path, model_type, heads_ratio, heads
):
    src = tiny_model_factory(model_type, layers=4)
    model, tok = load_classifier(src)
    ctx = context(model, tok, splits)
    prune_structured_(
        model, PruneStructuredConfig(heads_ratio=heads_ratio, ffn_ratio=0.25, layers_ratio=0.25, samples=32), ctx
    )
    share_layers_(model, ShareConfig(group_size=2), ctx)
    assert common.shape_summary(model) == {"layers": 3, "heads": [heads] * 3, "ffn": [48, 48, 48]}
    texts = splits["dev"].texts[:16]
    expected = predict_logits(model, tok, texts, max_length=32)
    save_model(model, tok, tmp_path / "m")
    again, tok2 = load_classifier(tmp_path / "m")
    layers = Layout(again).layers
    assert layers[0] is layers[1] and layers[2] is not layers[0]
    assert common.count_parameters(again) == common.count_parameters(model)
    np.testing.assert_allclose(predict_logits(again, tok2, texts, max_length=32), expected, atol=1e-5)


def test_mpnet_head_pruning_is_refused_in_one_line(tiny_model_factory):
    model, _ = load_classifier(tiny_model_factory("mpnet"))
    from edgebert.compress.prune_structured import check
    from edgebert.errors import ConfigError

    with pytest.raises(ConfigError, match="not supported for mpnet"):
        check(model, PruneStructuredConfig(heads_ratio=0.5))


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_unstructured_pruning_hits_the_exact_sparsity(tiny_trained_model, scope, tmp_path):
    model, tok = load_classifier(tiny_trained_model)
    macs = macs_per_token(model)
    result = prune_unstructured_(model, PruneUnstructuredConfig(sparsity=0.37, scope=scope))
    linears = Layout(model).linear_weights()
    if scope == "layer":
        for m in linears:
            assert int((m.weight == 0).sum()) == round(0.37 * m.weight.numel())
        assert result["zeros"] == result["target_zeros"] == sum(round(0.37 * m.weight.numel()) for m in linears)
    else:
        assert result["zeros"] == result["target_zeros"] == round(0.37 * sum(m.weight.numel() for m in linears))
    assert result["gzip_bytes_after"] < result["gzip_bytes_before"]
    assert macs_per_token(model) == macs  # dense kernels do the same work: the record says so
    assert "no speed" in result["note"]
    assert not any(hasattr(m, "weight_mask") for m in linears)  # made permanent
    save_model(model, tok, tmp_path / "m")
    assert common.linear_sparsity(load_classifier(tmp_path / "m")[0]) == pytest.approx(result["achieved_sparsity"])


def test_sparsity_survives_distillation(tiny_trained_model, train_csv, tmp_path):
    recipe = {"max_length": 32, "prune_unstructured": {"sparsity": 0.5}, "distill": {"steps": 5, "learning_rate": 1e-2}}
    out = compress_model(tiny_trained_model, recipe, tmp_path / "sparse", dataset=train_csv)
    m = bundle.read_manifest(out)
    total = sum(w.weight.numel() for w in Layout(load_classifier(out)[0]).linear_weights())
    expected = round(0.5 * total) / total
    assert [s["sparsity_after"] for s in m["stages"]] == [pytest.approx(expected, abs=1e-6)] * 2
    assert common.linear_sparsity(load_classifier(out)[0]) == pytest.approx(expected)


def test_shared_layers_store_once_reload_tied_and_export_with_parity(
    tiny_trained_model, train_csv, tiny_dataset, tmp_path
):
    out = compress_model(
        tiny_trained_model,
        {"max_length": 32, "share": {"group_size": 2}, "distill": {"steps": 5}},
        tmp_path / "shared",
        dataset=train_csv,
    )
    m = bundle.read_manifest(out)
    assert m["shared_weights"] is True
    assert [s["stage"] for s in m["stages"]] == ["share", "distill"]
    assert m["stages"][0]["params_after"] < m["stages"][0]["params_before"]
    assert m["stages"][0]["macs_per_token_after"] == m["stages"][0]["macs_per_token_before"]  # same compute
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "np") as f:
        assert not any(".layer.1." in k for k in f.keys())
    model, _ = load_classifier(out)
    assert model.bert.encoder.layer[0] is model.bert.encoder.layer[1]
    int8 = bundle.read_manifest(
        export_bundle("x86-avx512-vnni", out, tmp_path / "int8", dataset=tiny_dataset, max_length=32)
    )
    assert int8["parity"]["passed"] and int8["precision"] == "int8"


@pytest.mark.parametrize("quantize", [False, True], ids=["fp32", "int8"])
def test_shared_weights_are_stored_once_in_the_onnx_file(tiny_model_factory, splits, tmp_path, quantize):
    """The export path of a shared model (torch.onnx, then onnxruntime's quantizer): the file loses a layer per tie."""
    from edgebert.export import onnx as ox

    model, tok = load_classifier(tiny_model_factory("bert", layers=4, hidden=64, intermediate=256))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    sizes = {}
    for name in ("plain", "shared"):
        if name == "shared":
            share_layers_(model, ShareConfig(group_size=2))
        path = tmp_path / f"{name}.onnx"
        ox.torch_to_onnx(model, names, path, 17)
        if quantize:
            ox.quantize(path, tmp_path / f"{name}.q.onnx", QuantizationSettings(mode="dynamic"))
            path = tmp_path / f"{name}.q.onnx"
        sizes[name] = path.stat().st_size
    layer_weights = sum(
        m.weight.numel() for m in model.bert.encoder.layer[0].modules() if isinstance(m, torch.nn.Linear)
    )
    bytes_per_weight = 1 if quantize else 4
    assert sizes["plain"] - sizes["shared"] >= 0.9 * 2 * layer_weights * bytes_per_weight  # two layers' weights fewer


def test_distillation_improves_the_pruned_model(tmp_path):
    """A slightly bigger tiny teacher (4 layers), pruned hard enough to lose accuracy; distillation wins it back."""
    from conftest import train_tiny

    teacher = train_tiny(build_model(tmp_path / "teacher", "bert", layers=4), make_rows(400, seed=0))
    csv = write_csv(tmp_path / "data.csv", make_rows(2000, seed=3))  # 200 dev sentences
    prune = {"heads_ratio": 0.75, "ffn_ratio": 0.95, "layers_ratio": 0.75, "samples": 128}
    plain = bundle.read_manifest(
        compress_model(teacher, {"max_length": 32, "prune_structured": prune}, tmp_path / "p", dataset=csv)
    )
    m = bundle.read_manifest(
        compress_model(
            teacher,
            {"max_length": 32, "prune_structured": prune, "distill": {"steps": 60, "learning_rate": 3e-3}},
            tmp_path / "d",
            dataset=csv,
        )
    )
    record = m["stages"][-1]
    assert record["stage"] == "distill" and record["result"]["steps_run"] == 60
    assert record["dev_accuracy_before"] == plain["accuracy"]["dev"]  # the same pruning, seeded
    assert plain["accuracy"]["dev"] <= plain["accuracy"]["dev_source"] - 0.05  # pruning hurt ...
    assert m["accuracy"]["dev"] >= plain["accuracy"]["dev"] + 0.05  # ... and distillation won it back
    assert record["result"]["loss_last"] < record["result"]["loss_first"]


def test_distillation_beats_label_only_fine_tuning_at_equal_steps(tmp_path):
    """Same pruned student, same 60 steps, same batches: the teacher's soft targets against the labels alone.

    Distillation pays when the teacher knows more than the labels say. Here the teacher learned the rule from clean
    data, while 45 % of the student's training labels are flipped (dev stays clean): fine-tuning on those labels
    learns little in 60 steps, distillation (kd_weight 0.5, so half the loss is still the noisy labels) learns the rule.
    """
    import random

    from conftest import train_tiny

    teacher = train_tiny(build_model(tmp_path / "teacher", "bert", layers=4), make_rows(400, seed=0))
    rows = make_rows(2000, seed=4)
    rng = random.Random(4)
    for i in np.random.default_rng(data.SPLIT_SEED).permutation(len(rows))[: int(0.8 * len(rows))]:  # the train split
        if rng.random() < 0.45:
            rows[i] = {**rows[i], "label": {"pos": "neg", "neg": "pos"}[rows[i]["label"]]}
    csv = write_csv(tmp_path / "noisy.csv", rows)
    prune = {"heads_ratio": 0.75, "ffn_ratio": 0.95, "layers_ratio": 0.75, "samples": 128}
    runs = {
        kd: bundle.read_manifest(
            compress_model(
                teacher,
                {
                    "max_length": 32,
                    "prune_structured": prune,
                    "distill": {"steps": 60, "learning_rate": 3e-3, "kd_weight": kd},
                },
                tmp_path / f"kd{kd}",
                dataset=csv,
            )
        )
        for kd in (0.0, 0.5)
    }
    labels_only, distilled = (runs[kd]["accuracy"]["dev"] for kd in (0.0, 0.5))
    assert [r["stages"][-1]["result"]["steps_run"] for r in runs.values()] == [60, 60]
    assert distilled >= labels_only + 0.1, (distilled, labels_only)
    assert distilled >= 0.9


def reversed_vocab_teacher(model_dir: Path, out: Path) -> Path:
    """The model with its word ids reversed and its embedding rows permuted to match: through its own tokenizer it
    computes exactly the original logits, through the original tokenizer something else (a teacher of another family
    numbers tokens its own way too)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    model, tok = load_classifier(model_dir)
    spec = json.loads(tok.backend_tokenizer.to_str())
    old = spec["model"]["vocab"]
    words = sorted(old, key=old.get)
    new = {w: i for i, w in enumerate(words[:5] + words[5:][::-1])}  # the five special tokens keep their ids
    spec["model"]["vocab"] = new
    own = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    emb = model.bert.embeddings.word_embeddings.weight
    with torch.no_grad():
        emb[[new[w] for w in words]] = emb[[old[w] for w in words]].clone()
    save_model(model, own, out)
    return out


def test_teacher_reads_the_texts_through_its_own_tokenizer(tiny_trained_model, tiny_rows, tmp_path, monkeypatch):
    from edgebert.compress.distill import teacher_logits

    monkeypatch.setenv("EDGEBERT_CACHE_DIR", str(tmp_path / "cache"))
    teacher_dir = reversed_vocab_teacher(tiny_trained_model, tmp_path / "teacher")
    model, tok = load_classifier(tiny_trained_model)
    texts = data.LabelledTexts(tuple(r["text"] for r in tiny_rows[:40]), tuple(r["label"] for r in tiny_rows[:40]))
    got, computed = teacher_logits(
        teacher_dir, texts, np.arange(len(texts)), CompressContext(tok, label2id(model), max_length=32)
    )
    expected = predict_logits(model, tok, texts.texts, max_length=32)
    assert computed == len(texts)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    teacher, _ = load_classifier(teacher_dir)
    assert not np.allclose(predict_logits(teacher, tok, texts.texts, max_length=32), expected, atol=1e-2)  # the trap


def test_hidden_state_loss_is_skipped_for_a_teacher_that_tokenizes_differently(tiny_trained_model, train_csv, tmp_path):
    teacher_dir = reversed_vocab_teacher(tiny_trained_model, tmp_path / "teacher")
    recipe = {"max_length": 32, "distill": {"steps": 2, "hidden_weight": 1.0, "teacher": str(teacher_dir)}}
    result = bundle.read_manifest(compress_model(tiny_trained_model, recipe, tmp_path / "h", dataset=train_csv))[
        "stages"
    ][-1]["result"]
    assert result["hidden_pairs"] is None and "tokenize differently" in result["notes"][0]


def test_teacher_logits_are_computed_once(tiny_trained_model, train_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBERT_CACHE_DIR", str(tmp_path / "cache"))
    recipe = {"max_length": 32, "distill": {"steps": 2}}
    first = compress_model(tiny_trained_model, recipe, tmp_path / "a", dataset=train_csv)
    second = compress_model(tiny_trained_model, recipe, tmp_path / "b", dataset=train_csv)
    computed = [bundle.read_manifest(d)["stages"][-1]["result"]["teacher_logits_computed"] for d in (first, second)]
    assert computed[0] > 0 and computed[1] == 0
    assert bundle.read_manifest(first)["accuracy"] == bundle.read_manifest(second)["accuracy"]  # seeded


def test_the_sources_dev_accuracy_is_measured_once_per_weights_and_texts(
    tiny_trained_model, train_csv, tmp_path, monkeypatch
):
    """edgebert run compresses the same source once per trial: its dev accuracy is cached by weights, labels, dev texts
    and max_length; the figure is the one measured, and another max_length measures again."""
    from edgebert.compress import common

    monkeypatch.setenv("EDGEBERT_CACHE_DIR", str(tmp_path / "cache"))
    measured = []
    real = common.dev_accuracy
    monkeypatch.setattr(common, "dev_accuracy", lambda model, ctx: measured.append(ctx.max_length) or real(model, ctx))
    recipe = {"max_length": 32, "prune_structured": {"heads_ratio": 0.5}}
    first = bundle.read_manifest(compress_model(tiny_trained_model, recipe, tmp_path / "a", dataset=train_csv))
    second = bundle.read_manifest(compress_model(tiny_trained_model, recipe, tmp_path / "b", dataset=train_csv))
    assert measured == [32, 32, 32]  # the source once, each pruned model once
    assert first["accuracy"] == second["accuracy"] and first["accuracy"]["dev_source"] is not None
    compress_model(tiny_trained_model, recipe | {"max_length": 24}, tmp_path / "c", dataset=train_csv)
    assert measured[3:] == [24, 24]
    # a compress of what compress wrote (edgebert run distils the shapes it built) reads the figure it recorded
    again = bundle.read_manifest(compress_model(tmp_path / "a", recipe, tmp_path / "e", dataset=train_csv))
    assert measured[5:] == [32] and again["accuracy"]["dev_source"] == first["accuracy"]["dev"]
    del measured[5:]
    for entry in (tmp_path / "cache" / "dev-metric").glob("*.json"):
        entry.write_text("{not json")  # a damaged entry is measured again, never trusted
    compress_model(tiny_trained_model, recipe, tmp_path / "d", dataset=train_csv)
    assert measured[5:] == [32, 32]


def test_hidden_state_loss_pairs_layers_with_their_origin(tiny_trained_model, train_csv, tmp_path):
    recipe = {
        "max_length": 32,
        "prune_structured": {"layers_ratio": 0.5, "samples": 64},
        "distill": {"steps": 3, "hidden_weight": 1.0},
    }
    m = bundle.read_manifest(compress_model(tiny_trained_model, recipe, tmp_path / "h", dataset=train_csv))
    kept = m["stages"][0]["result"]["layers_kept"]
    assert m["stages"][1]["result"]["hidden_pairs"] == [[0, 0], [1, kept[0] + 1]]


def test_export_applies_the_recipes_quantization(tiny_trained_model, train_csv, tiny_dataset, tmp_path):
    out = compress_model(
        tiny_trained_model, {"quantize": {"mode": "dynamic", "per_channel": False}}, tmp_path / "q", dataset=train_csv
    )
    m = bundle.read_manifest(out)
    assert m["quantization"]["per_channel"] is False and m["precision"] == "int8"
    b = bundle.read_manifest(export_bundle("x86-avx512-vnni", out, tmp_path / "b", dataset=tiny_dataset, max_length=32))
    assert b["precision"] == "int8" and b["target"]["quantization"]["per_channel"] is False
    assert [s["stage"] for s in b["stages"]] == ["quantize"]


@pytest.mark.parametrize(
    "mode, fmt, words",
    [
        ("fp16", None, ["fp16", "parity.fp16", "--target cuda"]),  # x86 targets validate no fp16 (CPUs lack fast fp16)
        ("bf16", "onnx", ["bf16", "TorchScript only"]),
    ],
)
def test_float_precisions_reach_export_as_one_line_errors_where_they_do_not_apply(
    tiny_trained_model, train_csv, tiny_dataset, tmp_path, mode, fmt, words
):
    from edgebert.errors import UserError

    out = compress_model(tiny_trained_model, {"quantize": {"mode": mode}}, tmp_path / mode, dataset=train_csv)
    m = bundle.read_manifest(out)
    assert m["precision"] == mode and m["quantization"]["mode"] == "none"
    with pytest.raises(UserError) as err:
        export_bundle("x86-avx512-vnni", out, tmp_path / "b", format=fmt, dataset=tiny_dataset, max_length=32)
    assert all(w in str(err.value) for w in words) and "\n" not in str(err.value)
    assert not (tmp_path / "b").exists()


def test_distillation_batches_are_length_grouped_and_seeded():
    from edgebert.compress.distill import DistillConfig, batch_schedule

    rng = np.random.default_rng(1)
    texts = tuple("x" * int(n) for n in rng.integers(1, 200, size=500))
    train = data.LabelledTexts(texts, ("a",) * len(texts))
    config = DistillConfig(steps=40, batch_size=8)
    schedule = batch_schedule(train, config, seed=3)
    assert len(schedule) == 40 and all(len(b) == 8 and len(set(b.tolist())) == 8 for b in schedule)
    assert all(np.array_equal(a, b) for a, b in zip(schedule, batch_schedule(train, config, seed=3)))
    lengths = np.array([len(t) for t in texts])
    padded = sum(lengths[b].max() * len(b) for b in schedule)  # what a batch padded to its longest text computes
    unsorted = [np.random.default_rng(3).choice(len(train), size=8, replace=False) for _ in range(40)]
    assert padded < 0.8 * sum(lengths[b].max() * len(b) for b in unsorted)


def test_bf16_distillation_trains_under_autocast_and_the_recipe_says_so(tiny_trained_model, train_csv, tmp_path):
    """The same seeded 5 steps in fp32 and bf16 (with the hidden-state loss, so the teacher runs too): both finish,
    the manifests record which, and the weights differ (the forward passes really ran in bf16); stored weights stay fp32."""
    from safetensors import safe_open

    weights = {}
    for precision in ("fp32", "bf16"):
        recipe = {
            "max_length": 32,
            "distill": {"steps": 5, "learning_rate": 1e-2, "hidden_weight": 1.0, "precision": precision},
        }
        out = compress_model(tiny_trained_model, recipe, tmp_path / precision, dataset=train_csv)
        record = bundle.read_manifest(out)["stages"][-1]
        assert record["config"]["precision"] == precision
        assert np.isfinite(record["result"]["loss_last"])
        assert 0 < record["result"]["first_step_seconds"] < record["seconds"]
        with safe_open(str(out / "model.safetensors"), "np") as f:
            weights[precision] = {k: f.get_tensor(k) for k in f.keys()}
    assert {v.dtype for v in weights["bf16"].values()} == {np.dtype("float32")}
    assert any(not np.array_equal(weights["fp32"][k], weights["bf16"][k]) for k in weights["fp32"])


@pytest.mark.parametrize(
    "flags, expected", [({"amx_bf16", "avx512_bf16"}, True), ({"avx512_bf16", "avx512f"}, False), (set(), False)]
)
def test_training_runs_in_bf16_only_where_the_cpu_has_amx(monkeypatch, flags, expected):
    from edgebert import cpu

    monkeypatch.setattr(cpu, "cpu_features", lambda: frozenset(flags))
    assert cpu.trains_in_bf16() is expected


def test_augmented_copies_are_distilled_on_the_teachers_logits_alone(
    tiny_trained_model, train_csv, splits, tmp_path, monkeypatch
):
    """The copies join the transfer set: the schedule draws them and the teacher labels them (cached like the
    training texts' logits). Cross-entropy takes only the labelled rows of a batch, so kd_weight 0 trains too."""
    from edgebert.compress.augment import augment_texts
    from edgebert.compress.distill import DistillConfig, batch_schedule

    monkeypatch.setenv("EDGEBERT_CACHE_DIR", str(tmp_path / "cache"))
    results = {}
    for name, augment, kd in [("plain", 0, 0.5), ("aug-ce", 2, 0.0), ("aug-kd", 2, 0.5)]:
        recipe = {"max_length": 32, "distill": {"steps": 6, "augment": augment, "kd_weight": kd}}
        out = compress_model(tiny_trained_model, recipe, tmp_path / name, dataset=train_csv)
        results[name] = bundle.read_manifest(out)["stages"][-1]["result"]
        assert np.isfinite(results[name]["loss_last"])
    train = splits["train"]
    copies = augment_texts(train.texts, 2)
    assert results["plain"]["augmented_texts"] == 0 and results["aug-kd"]["augmented_texts"] == len(copies) > 0
    pool = data.LabelledTexts(train.texts + tuple(copies), train.labels + ("",) * len(copies))
    drawn = np.unique(np.concatenate(batch_schedule(pool, DistillConfig(steps=6, augment=2), seed=0)))
    assert (drawn >= len(train)).any()  # copies are drawn
    assert results["aug-ce"]["teacher_logits_computed"] == len(drawn)
    assert results["aug-kd"]["teacher_logits_computed"] == 0  # the same set, read from the cache


def test_augmentation_is_refused_where_it_does_not_apply(tiny_trained_model, splits):
    from edgebert.compress.distill import DistillConfig, check
    from edgebert.errors import ConfigError

    model, tok = load_classifier(tiny_trained_model)
    ctx = context(model, tok, splits, teacher_dir=tiny_trained_model, embedding=object())
    with pytest.raises(ConfigError, match="sequence classification only"):
        check(model, DistillConfig(augment=1), ctx)
    with pytest.raises(ValueError, match="augment"):
        DistillConfig(augment=-1)


def test_bf16_teacher_logits_are_cached_apart_and_close(tiny_trained_model, splits, tmp_path, monkeypatch):
    from edgebert.compress.distill import teacher_logits

    monkeypatch.setenv("EDGEBERT_CACHE_DIR", str(tmp_path / "cache"))
    model, tok = load_classifier(tiny_trained_model)
    texts, ctx = splits["dev"], CompressContext(tok, label2id(model), max_length=32)
    rows = np.arange(len(texts))
    fp32, n32 = teacher_logits(tiny_trained_model, texts, rows, ctx)
    bf16, n16 = teacher_logits(tiny_trained_model, texts, rows, ctx, precision="bf16")
    assert n32 == n16 == len(texts)  # not read from the fp32 entry
    assert not np.array_equal(fp32, bf16)
    np.testing.assert_allclose(bf16, fp32, atol=0.1)
